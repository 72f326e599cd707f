"""MB: model-based RL with MPC on a non-adaptive learned model (the paper's baseline)."""

from algorithms.mb.config import Config, ModelBasedConfig
from algorithms.mb.loop import PolicyParams, TrainingState, TrainResult
from algorithms.mb.train import init, make_model, make_policy, regression_loss, train

__all__ = ["Config", "ModelBasedConfig", "PolicyParams", "TrainResult", "TrainingState", "init",
           "make_model", "make_policy", "regression_loss", "train"]
