"""Maximum a posteriori policy optimisation (Abdolmaleki et al. 2018), acme's settings."""

from algorithms.mpo.config import Config
from algorithms.mpo.losses import (
    DualParams,
    Gaussian,
    Networks,
    critic_loss,
    e_step,
    gaussian_kl,
    kl_penalty_and_dual_loss,
    m_step_loss,
    policy_loss,
)
from algorithms.mpo.train import (
    MPOParams,
    PolicyParams,
    TrainingState,
    init,
    make_learner,
    make_networks,
    make_policy,
    make_program,
    policy_params,
    update,
)

__all__ = ["Config", "DualParams", "Gaussian", "MPOParams", "Networks", "PolicyParams",
           "TrainingState", "critic_loss", "e_step", "gaussian_kl", "init",
           "kl_penalty_and_dual_loss", "m_step_loss", "make_learner", "make_networks",
           "make_policy", "policy_loss", "policy_params", "make_program", "update"]
