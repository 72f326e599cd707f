"""ReBAL: recurrence-based adaptive learner (Nagabandi, Clavera et al., ICLR 2019)."""

from algorithms.mb.loop import PolicyParams
from algorithms.rebal.config import Config
from algorithms.rebal.losses import Adapted, ReBALParams, adapt, loss, predict
from algorithms.rebal.train import init, make_model, make_networks, make_policy, make_program

__all__ = ["Adapted", "Config", "PolicyParams", "ReBALParams", "adapt", "init",
           "loss", "make_model", "make_networks", "make_policy", "predict", "make_program"]
