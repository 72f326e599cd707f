"""The off-policy learners' program: their `Learner` in `rlcore.loop`'s actor/learner loop.

SAC, Lagrangian SAC and MPO differ only in their `Learner` (init, policy, update); this wraps
the env for training and evaluation and hands the loop to the driver as a `Program`.
"""

from __future__ import annotations

from envs import wrappers
from envs.base import Env
from rlcore import loop
from rlcore.config import OffPolicyConfig
from rlcore.program import Program


def make_program(env: Env, learner: loop.Learner, config: OffPolicyConfig,
                 mesh=None) -> Program:
    """`env` unwrapped (`envs.make(...)`): training gets the time limit, batching, auto-reset
    and episode statistics; evaluation the time limit and batching."""
    train_env = wrappers.wrap_for_training(env, config.episode_length)
    eval_env = wrappers.wrap_for_eval(env, config.episode_length)
    return loop.make_program(train_env, eval_env, learner, config, mesh)
