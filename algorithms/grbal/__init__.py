"""GrBAL: gradient-based adaptive learner (Nagabandi, Clavera et al., ICLR 2019)."""

from algorithms.grbal.config import Config
from algorithms.grbal.losses import GrBALParams, inner_step, meta_loss
from algorithms.grbal.train import init, make_model, make_network, make_policy, train
from algorithms.mb.loop import PolicyParams, TrainResult

__all__ = ["Config", "GrBALParams", "PolicyParams", "TrainResult", "init", "inner_step",
           "make_model", "make_network", "make_policy", "meta_loss", "train"]
