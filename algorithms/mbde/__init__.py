"""MB+DE: model-based RL with dynamic evaluation (SGD on recent data, no meta-training)."""

from algorithms.mb.loop import PolicyParams, TrainResult
from algorithms.mbde.config import Config
from algorithms.mbde.train import init, make_model, make_policy, train

__all__ = ["Config", "PolicyParams", "TrainResult", "init", "make_model", "make_policy", "train"]
