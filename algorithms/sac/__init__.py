"""Soft Actor-Critic with automatic temperature (Haarnoja et al. 2018)."""

from algorithms.sac.config import Config
from algorithms.sac.losses import Networks, actor_loss, alpha_loss, critic_loss
from algorithms.sac.train import (
    PolicyParams,
    SACParams,
    TrainingState,
    init,
    make_learner,
    make_networks,
    make_policy,
    make_program,
    policy_params,
    update,
)

__all__ = ["Config", "Networks", "PolicyParams", "SACParams", "TrainingState", "actor_loss",
           "alpha_loss", "critic_loss", "init", "make_learner", "make_networks", "make_policy",
           "policy_params", "make_program", "update"]
