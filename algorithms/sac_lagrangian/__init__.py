"""SAC with a safety constraint and a learned Lagrange multiplier (Ha et al. 2020).

Reuses SAC's networks, reward critic, temperature and policy; adds twin cost critics and the
multiplier lambda (see `config` for the limit conversion, `losses` for the equations).
"""

from algorithms.sac_lagrangian.config import Config
from algorithms.sac_lagrangian.losses import (
    Networks,
    actor_loss,
    cost_critic_loss,
    lambda_loss,
    multiplier,
)
from algorithms.sac_lagrangian.train import (
    LagrangianParams,
    PolicyParams,
    TrainingState,
    current_lambda,
    init,
    make_learner,
    make_networks,
    make_policy,
    make_program,
    policy_params,
    recent_cost_rate,
    update,
)

__all__ = ["Config", "LagrangianParams", "Networks", "PolicyParams", "TrainingState",
           "actor_loss", "cost_critic_loss", "current_lambda", "init", "lambda_loss",
           "make_learner", "make_networks", "make_policy", "multiplier", "policy_params",
           "recent_cost_rate", "make_program", "update"]
