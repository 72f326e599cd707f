"""SAC configuration (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications")."""

from __future__ import annotations

import dataclasses

from rlcore.config import OffPolicyConfig, check, check_learning_rates


@dataclasses.dataclass(frozen=True, kw_only=True)
class SACFields:
    """SAC's learner settings, declared once: SAC's (and Lagrangian SAC's) `Config` and
    PEARL's compose them with their loop's fields.

    Attributes:
      actor_lr, critic_lr, alpha_lr: Adam learning rates.
      discount: gamma, per env step.
      tau: Polyak rate of the target critics, target <- tau * online + (1 - tau) * target.
      init_alpha: initial temperature (the paper starts at 1).
      target_entropy: entropy target in nats of the normalised action in [-1, 1]^A (the
        env's bounds never enter a log-probability: `rlcore.distributions`); None means -|A|
        (the paper's choice). Brax and jaxrl use -|A|/2, which explores more on
        low-dimensional tasks.
      reward_scale: rewards are multiplied by this in the critic target.
      hidden_sizes: hidden layers of the policy and of each critic.
      num_critics: critics in the ensemble (the target takes their minimum).
    """

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    discount: float = 0.99
    tau: float = 0.005
    init_alpha: float = 1.0
    target_entropy: float | None = None
    reward_scale: float = 1.0
    hidden_sizes: tuple[int, ...] = (256, 256)
    num_critics: int = 2

    def __post_init__(self):
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:  # the loop's fields, checked first
            parent()
        check_learning_rates(self, "actor_lr", "critic_lr", "alpha_lr")
        check(0.0 <= self.discount <= 1.0, "discount", "must lie in [0, 1]")
        check(0.0 < self.tau <= 1.0, "tau", "must lie in (0, 1]")
        check(self.init_alpha > 0, "init_alpha", "must be > 0")
        check(self.num_critics >= 1, "num_critics", "must be >= 1")
        check(all(h > 0 for h in self.hidden_sizes), "hidden_sizes", "sizes must be > 0")

    def entropy_target(self, action_size: int) -> float:
        return -float(action_size) if self.target_entropy is None else self.target_entropy


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(SACFields, OffPolicyConfig):
    """SAC hyperparameters: `SACFields` and the loop's (`OffPolicyConfig`: num_envs,
    batch_size, ...)."""
