"""SAC-Lagrangian configuration: SAC's fields plus the cost critics and the multiplier.

The constraint (Ha et al. 2020, "Learning to Walk in the Real World with Minimal Human
Effort", sec. IV; Altman 1999 for the CMDP form) is J_c(pi) <= q_limit, J_c the expected
*discounted* sum of future costs with the cost discount gamma_c (`cost_discount`). The
actor's penalty uses the cost critic Q_cost (bootstrapped through time-limit truncation like
the reward critic); the multiplier's estimate of J_c is `constraint_estimate`: by default the
cost rate the policy incurred over the last `constraint_window_steps` collected steps, times
(1 - gamma_c^T) / (1 - gamma_c), else ("cost_q") E_{s ~ D, a ~ pi}[max_k Q_cost_k(s, a)] over
replay states. The limit is given as either

  * `cost_limit_per_step` r (a safety rate, e.g. 0.01 = falls on 1% of the steps), or
  * `cost_limit_per_episode` D (a budget per episode of T steps; r = D / T),

and converted to the threshold on Q_cost that a constant cost r per step would give over
an episode of T steps:

    q_limit = r * (1 - gamma_c^T) / (1 - gamma_c) = D * (1 - gamma_c^T) / ((1 - gamma_c) * T)

(the conversion of Yang et al. 2021, WCSAC). T is `episode_length` or the env's spec. With
gamma_c^T << 1 (e.g. gamma_c = 0.99, T = 1000) q_limit = r / (1 - gamma_c), the value a
truncation-bootstrapped critic reaches at a stationary cost rate r.
"""

from __future__ import annotations

import dataclasses

from algorithms.sac.config import Config as SACConfig
from rlcore.config import check, check_learning_rates

PARAMETERIZATIONS = ("log", "softplus", "bounded")
CONSTRAINT_ESTIMATES = ("recent_cost", "cost_q")
DEFAULT_COST_LIMIT_PER_EPISODE = 25.0  # cost units per episode, when no limit is given


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(SACConfig):
    """SAC-Lagrangian hyperparameters; SAC's and the loop's fields are inherited.

    Attributes:
      cost_limit_per_step: allowed cost per env step (a rate, cost units / step), or None.
      cost_limit_per_episode: allowed cost per episode (a budget, cost units), or None.
        Give at most one of the two (both is an error naming the field). With neither,
        the budget is `DEFAULT_COST_LIMIT_PER_EPISODE` = 25 per episode, Safety Gym's and
        OmniSafe's default (so `--algo=sac_lagrangian` runs on any env without a flag).
      cost_discount: gamma_c of the cost critics, per env step, in [0, 1).
      cost_critic_lr: Adam learning rate of the cost critics.
      num_cost_critics: cost critics in the ensemble (target and actor take their maximum:
        pessimistic about cost).
      init_lambda: initial multiplier (> 0: every parameterisation reaches 0 only in the limit).
      lambda_lr: Adam learning rate of the multiplier parameter; smaller than the critics'
        so that lambda sees a cost estimate that has settled (dual ascent on a slower scale).
        The multiplier takes one step per iteration (not per gradient step), so its rate
        per env step does not depend on `grad_steps_per_iteration`.
      lambda_parameterization: "log" (lambda = exp(p)), "softplus" (lambda = softplus(p)) or
        "bounded" (lambda = lambda_max * sigmoid(p)). Each keeps lambda >= 0 without
        clipping, so its gradient never vanishes at a clip. With a limit that the policy
        cannot meet, "log" grows lambda exponentially (1.5e10 after 1M steps on
        mjx/quadruped-multitask) until the reward no longer matters; "bounded" caps it
        (OmniSafe's `lagrangian_upper_bound`).
      lambda_max: the upper bound of "bounded" (> init_lambda); unused otherwise.
      lambda_warmup_env_steps: lambda stays at init_lambda until this many env steps (the
        cost critics first learn what the policy costs; OmniSafe's warm-up).
      fixed_lambda: if set, lambda is this constant (>= 0) and is not learned: SAC with a
        fixed cost penalty, the hand-tuned baseline (the limit is then only logged).
      constraint_estimate: the J_c that the multiplier compares with the limit.
        "recent_cost" (default): what the policy actually incurs, the mean cost per step of
        the last `constraint_window_steps` transitions collected (all envs), converted to
        the critics' discounted scale, J_c = rate * (1 - gamma_c^T) / (1 - gamma_c); the
        on-policy estimate of OmniSafe's Lagrangian methods (mean cost of recent episodes).
        "cost_q": the cost critic of the current policy averaged over the sampled replay
        states (Ha et al.'s form); replay holds the states of early exploration, so this
        estimate can stay above the limit long after the policy has stopped incurring cost
        (on glucose it drove lambda from 0.1 to 14 and the agent withheld insulin).
      constraint_window_steps: env steps (over all envs) that "recent_cost" averages; the
        replay capacity if that is smaller. Should span a few episodes.
    """

    cost_limit_per_step: float | None = None
    cost_limit_per_episode: float | None = None
    cost_discount: float = 0.99
    cost_critic_lr: float = 3e-4
    num_cost_critics: int = 2
    init_lambda: float = 0.1
    lambda_lr: float = 1e-4
    lambda_parameterization: str = "log"
    lambda_max: float = 100.0
    lambda_warmup_env_steps: int = 5_000
    fixed_lambda: float | None = None
    constraint_estimate: str = "recent_cost"
    constraint_window_steps: int = 10_000

    def __post_init__(self):
        super().__post_init__()
        check_learning_rates(self, "cost_critic_lr", "lambda_lr")
        check(self.cost_limit_per_step is None or self.cost_limit_per_step >= 0,
              "cost_limit_per_step", f"must be >= 0, got {self.cost_limit_per_step}")
        check(self.cost_limit_per_episode is None or self.cost_limit_per_episode >= 0,
              "cost_limit_per_episode", f"must be >= 0, got {self.cost_limit_per_episode}")
        check(self.cost_limit_per_step is None or self.cost_limit_per_episode is None,
              "cost_limit_per_episode",
              "give the limit either per step (cost_limit_per_step) or per episode "
              "(cost_limit_per_episode), not both")
        check(0.0 <= self.cost_discount < 1.0, "cost_discount", "must lie in [0, 1)")
        check(self.num_cost_critics >= 1, "num_cost_critics", "must be >= 1")
        check(self.init_lambda > 0, "init_lambda", f"must be > 0, got {self.init_lambda}")
        check(self.lambda_parameterization in PARAMETERIZATIONS, "lambda_parameterization",
              f"must be one of {PARAMETERIZATIONS}, got {self.lambda_parameterization!r}")
        check(self.lambda_parameterization != "bounded" or self.lambda_max > self.init_lambda,
              "lambda_max", f"must be > init_lambda ({self.init_lambda}) for the bounded "
              f"parameterization, got {self.lambda_max}")
        check(self.lambda_warmup_env_steps >= 0, "lambda_warmup_env_steps", "must be >= 0")
        check(self.fixed_lambda is None or self.fixed_lambda >= 0, "fixed_lambda",
              f"must be >= 0, got {self.fixed_lambda}")
        check(self.constraint_estimate in CONSTRAINT_ESTIMATES, "constraint_estimate",
              f"must be one of {CONSTRAINT_ESTIMATES}, got {self.constraint_estimate!r}")
        check(self.constraint_window_steps >= 1, "constraint_window_steps",
              f"must be >= 1, got {self.constraint_window_steps}")

    @property
    def learns_lambda(self) -> bool:
        return self.fixed_lambda is None

    def cost_rate_limit(self, episode_length: int) -> float:
        """The limit as a per-step rate r (cost units / step): D / T for a budget D."""
        check(episode_length > 0, "episode_length", f"must be > 0, got {episode_length}")
        if self.cost_limit_per_step is not None:
            return float(self.cost_limit_per_step)
        budget = (DEFAULT_COST_LIMIT_PER_EPISODE if self.cost_limit_per_episode is None
                  else self.cost_limit_per_episode)
        return float(budget) / episode_length

    def discounted_horizon(self, episode_length: int) -> float:
        """(1 - gamma_c^T) / (1 - gamma_c): the discounted sum of a constant cost of 1."""
        check(episode_length > 0, "episode_length", f"must be > 0, got {episode_length}")
        return (1.0 - self.cost_discount ** episode_length) / (1.0 - self.cost_discount)

    def q_limit(self, episode_length: int) -> float:
        """The threshold on the discounted cost value the cost critics estimate:

            q_limit = r * (1 - gamma_c^T) / (1 - gamma_c),  r = D / T for a budget D.
        """
        return self.cost_rate_limit(episode_length) * self.discounted_horizon(episode_length)
