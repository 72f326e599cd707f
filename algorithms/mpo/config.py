"""MPO configuration (Abdolmaleki et al. 2018, "Maximum a Posteriori Policy Optimisation",
arXiv:1806.06920, and "Relative Entropy Regularized Policy Iteration", arXiv:1812.02256).

Defaults follow acme's JAX MPO agent (`acme/agents/jax/mpo`, `acme/jax/losses/mpo.py`) where
the issue names them: epsilon 0.1, mean KL 0.0025 per action dimension, duals through
softplus, dual learning rate 1e-2, 20 action samples per state, target networks copied
every 100 gradient steps, learning rate 1e-4 and gradient-norm clipping at 40.

The covariance constraint is the exception (see `epsilon_stddev`): acme's bound 1e-6 with
its multiplier starting at softplus(1000) is tuned for runs of millions of gradient steps
and pins the policy's spread at its initial value in runs of 1e4-1e5 steps.
"""

from __future__ import annotations

import dataclasses
import math

from rlcore.config import OffPolicyConfig, check, check_learning_rates


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(OffPolicyConfig):
    """MPO hyperparameters; the loop's fields (num_envs, batch_size, ...) are inherited.

    Attributes:
      policy_lr, critic_lr: Adam learning rates of the policy and the critic (acme: 1e-4).
      dual_lr: Adam learning rate of the dual variables (temperature and KL multipliers).
      grad_norm_clip: global-norm clipping of policy and critic gradients (acme: 40).
      discount: gamma, per env step.
      reward_scale: rewards are multiplied by this in the critic target.
      num_samples: N, actions sampled from the target policy per state, both for the
        E-step and for the expected-value critic target (acme: 20).
      epsilon: KL bound of the non-parametric E-step policy to the target policy (nats).
      epsilon_mean: bound on the KL of the mean-only policy change, per action dimension.
      epsilon_stddev: bound on the KL of the covariance-only policy change, per dimension.
        Per target period the pre-squash std can change by a factor of at most about
        exp(+-sqrt(epsilon_stddev)) (KL(N(m, s) || N(m, s r)) ~ (log r)^2). 1e-3 (+-3% per
        period: a factor e in ~30 periods, 3k gradient steps at period 100) lets the spread
        shrink towards a deterministic optimum, or grow, within a run of 1e4 steps. acme's
        1e-6 (+-0.1% per period) needs ~1e3 periods (1e5 steps) for a factor e: with it
        the std stays near `init_std` all run, so MPO optimises a noisy policy and is
        evaluated on the squashed mean of it. The bound is per dimension, so it does not
        tighten with the action size.
      init_log_temperature, init_log_alpha_mean, init_log_alpha_stddev: initial
        pre-softplus values of eta and of the mean and covariance multipliers (10, 10, 10;
        softplus(x) ~ x for large x, so all start at ~10). acme starts the covariance
        multiplier at 1000: the dual's Adam (step ~dual_lr per step) then needs ~1e5
        steps to lower it, and the penalty 1000 * KL keeps the covariance change far
        inside even acme's bound meanwhile. 10 (acme's TF agent's value) is within a
        few hundred steps of the multiplier the bound needs.
      target_update_period: gradient steps between hard copies of the online policy and
        critic into their targets (T).
      hidden_sizes: hidden layers of the policy and of each critic.
      num_critics: critics in the ensemble; targets and E-step use their minimum (1 is
        plain MPO, 2 adds clipped double-Q as in SAC/TD3).
      init_std: pre-squash standard deviation of the policy at initialisation (acme 0.7;
        the last layer starts near zero, so every state starts at mean 0, std init_std).
      min_std: floor on the pre-squash standard deviation.
    """

    policy_lr: float = 1e-4
    critic_lr: float = 1e-4
    dual_lr: float = 1e-2
    grad_norm_clip: float = 40.0
    discount: float = 0.99
    reward_scale: float = 1.0
    num_samples: int = 20
    epsilon: float = 0.1
    epsilon_mean: float = 2.5e-3
    epsilon_stddev: float = 1e-3
    init_log_temperature: float = 10.0
    init_log_alpha_mean: float = 10.0
    init_log_alpha_stddev: float = 10.0
    target_update_period: int = 100
    hidden_sizes: tuple[int, ...] = (256, 256)
    num_critics: int = 1
    init_std: float = 0.7
    min_std: float = 1e-4

    def __post_init__(self):
        super().__post_init__()
        check_learning_rates(self, "policy_lr", "critic_lr", "dual_lr")
        for name in ("epsilon", "epsilon_mean", "epsilon_stddev"):
            value = getattr(self, name)
            check(value > 0 and math.isfinite(value), name,
                  f"KL bound must be a positive number, got {value}")
        check(self.num_samples > 0, "num_samples", f"must be > 0, got {self.num_samples}")
        check(self.target_update_period > 0, "target_update_period",
              f"must be > 0, got {self.target_update_period}")
        check(self.grad_norm_clip > 0, "grad_norm_clip", "must be > 0")
        check(0.0 <= self.discount <= 1.0, "discount", "must lie in [0, 1]")
        check(self.num_critics >= 1, "num_critics", "must be >= 1")
        check(all(h > 0 for h in self.hidden_sizes), "hidden_sizes", "sizes must be > 0")
        check(self.init_std > 0, "init_std", "must be > 0")
        check(0 < self.min_std < self.init_std, "min_std", "must lie in (0, init_std)")
