"""MB+DE: model-based RL with dynamic evaluation (SGD on recent data, no meta-training)."""

from algorithms.mb.loop import PolicyParams
from algorithms.mbde.config import Config
from algorithms.mbde.train import init, make_model, make_policy, make_program

__all__ = ["Config", "PolicyParams", "init", "make_model", "make_policy", "make_program"]
