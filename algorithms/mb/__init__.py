"""MB: model-based RL with MPC on a non-adaptive learned model (the paper's baseline)."""

from algorithms.mb.config import Config, ModelBasedConfig
from algorithms.mb.loop import PolicyParams, TrainingState
from algorithms.mb.train import init, make_model, make_policy, make_program, regression_loss

__all__ = ["Config", "ModelBasedConfig", "PolicyParams", "TrainingState", "init",
           "make_model", "make_policy", "regression_loss", "make_program"]
