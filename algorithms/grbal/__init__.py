"""GrBAL: gradient-based adaptive learner (Nagabandi, Clavera et al., ICLR 2019)."""

from algorithms.grbal.config import Config
from algorithms.grbal.losses import GrBALParams, inner_step, meta_loss
from algorithms.grbal.train import init, make_model, make_network, make_policy, make_program
from algorithms.mb.loop import PolicyParams

__all__ = ["Config", "GrBALParams", "PolicyParams", "init", "inner_step",
           "make_model", "make_network", "make_policy", "meta_loss", "make_program"]
