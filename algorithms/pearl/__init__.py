"""PEARL: off-policy meta-RL with a probabilistic context encoder (Rakelly et al. 2019)."""

from algorithms.pearl import losses
from algorithms.pearl.config import Config
from algorithms.pearl.defaults import FAMILY_DEFAULTS, config_for_env, defaults_for_env
from algorithms.pearl.encoder import (
    Gaussian,
    infer_posterior,
    kl_to_standard_normal,
    product_of_gaussians,
)
from algorithms.pearl.losses import Networks, actor_loss, alpha_loss, critic_encoder_loss
from algorithms.pearl.program import make_program, sample_train_test_tasks
from algorithms.pearl.train import (
    MetaState,
    PearlParams,
    PolicyParams,
    TrainingState,
    init,
    make_meta_functions,
    make_networks,
    make_policy,
    make_posterior,
    policy_params,
    sample_meta_batch,
    update,
)

__all__ = ["Config", "FAMILY_DEFAULTS", "Gaussian", "MetaState", "Networks", "PearlParams",
           "PolicyParams", "config_for_env", "defaults_for_env",
           "TrainingState", "actor_loss", "alpha_loss", "critic_encoder_loss",
           "infer_posterior", "init", "kl_to_standard_normal", "losses", "make_meta_functions",
           "make_networks", "make_policy", "make_posterior", "policy_params",
           "product_of_gaussians", "sample_meta_batch", "sample_train_test_tasks", "make_program",
           "update"]
