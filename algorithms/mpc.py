"""Model-predictive control over a learned model and a known pure reward function.

    plan = make_planner(step_fn, reward_fn, action_low, action_high, PlannerConfig())
    action, predicted_return = plan(model_state, obs (D,), task, key)     # one env
    jax.vmap(plan)(model_states, obs (B, D), tasks, keys)                 # B envs

`step_fn(model_state, obs (D,), action (A,)) -> next_obs (D,)` and
`reward_fn(obs (D,), action (A,), next_obs (D,), task) -> scalar` act on one transition; the
planner vmaps them over N candidates and scans them over the H-step horizon.

Methods (Nagabandi et al. 2018, 2019): random shooting (N uniform action sequences, the
first action of the best) and the cross-entropy method (iteratively refit a diagonal Gaussian
to the `num_elites` best sequences; elites chosen with `lax.top_k` on the returns, not by
comparing argsort indices with the elite count as learning_to_adapt's CEM does).

Axis letters: N candidates, H horizon, D obs size, A action size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

METHODS = ("random_shooting", "cem")


@dataclasses.dataclass(frozen=True)
class PlannerConfig:
    """Planner settings.

    Attributes:
      method: "random_shooting" or "cem".
      horizon: H, planning steps (the paper: 10).
      num_candidates: N action sequences per planning (iteration) (the paper: 500).
      num_cem_iterations: CEM refits.
      num_elites: CEM elites per refit (<= num_candidates).
      cem_alpha: CEM smoothing, new = alpha * old + (1 - alpha) * elite statistics.
      discount: per-step discount of the predicted rewards.
    """

    method: str = "random_shooting"
    horizon: int = 10
    num_candidates: int = 500
    num_cem_iterations: int = 5
    num_elites: int = 50
    cem_alpha: float = 0.1
    discount: float = 1.0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"Invalid planner field 'method': {self.method!r}, expected one "
                             f"of {METHODS}")
        for name in ("horizon", "num_candidates", "num_cem_iterations", "num_elites"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Invalid planner field {name!r}: must be > 0")
        if self.num_elites > self.num_candidates:
            raise ValueError("Invalid planner field 'num_elites': must be <= num_candidates")
        if not 0.0 <= self.cem_alpha < 1.0:
            raise ValueError("Invalid planner field 'cem_alpha': must lie in [0, 1)")


def make_rollout_returns(step_fn: Callable, reward_fn: Callable, discount: float) -> Callable:
    """`returns(model_state, obs (D,), task, actions (N, H, A)) -> (N,)` predicted returns."""

    def returns(model_state, obs, task, actions):
        chex.assert_rank(actions, 3)
        num = actions.shape[0]
        step = jax.vmap(step_fn, in_axes=(None, 0, 0))
        reward = jax.vmap(reward_fn, in_axes=(0, 0, 0, None))

        def body(carry, action_t):  # one horizon step for all N candidates
            obs_t, total, weight = carry
            obs_tp1 = step(model_state, obs_t, action_t)
            r = reward(obs_t, action_t, obs_tp1, task)
            # A diverging model must not win the argmax: non-finite returns count as -inf.
            r = jnp.where(jnp.isfinite(r), r, -jnp.inf)
            return (obs_tp1, total + weight * r, weight * discount), None

        init = (jnp.broadcast_to(obs, (num, *obs.shape)), jnp.zeros((num,)), jnp.ones(()))
        (_, total, _), _ = jax.lax.scan(body, init, jnp.swapaxes(actions, 0, 1))
        return total

    return returns


def make_planner(step_fn: Callable, reward_fn: Callable, action_low: Any, action_high: Any,
                 config: PlannerConfig) -> Callable:
    """Returns `plan(model_state, obs (D,), task, key) -> (action (A,), predicted return)`."""
    low = jnp.asarray(action_low, jnp.float32)
    high = jnp.asarray(action_high, jnp.float32)
    shape = (config.num_candidates, config.horizon, low.shape[0])
    returns_fn = make_rollout_returns(step_fn, reward_fn, config.discount)

    def random_shooting(model_state, obs, task, key):
        chex.assert_rank(obs, 1)
        actions = jax.random.uniform(key, shape, minval=low, maxval=high)
        returns = returns_fn(model_state, obs, task, actions)
        best = jnp.argmax(returns)
        return actions[best, 0], returns[best]

    def cem(model_state, obs, task, key):
        chex.assert_rank(obs, 1)
        mean = jnp.broadcast_to((low + high) / 2, shape[1:])
        std = jnp.broadcast_to((high - low) / 2, shape[1:])

        def refit(carry, iteration):
            mean, std, best_return = carry
            # fold_in, not scanning over split keys: the key-reuse checker rejects the latter
            # under vmap (a false positive), and the planner is vmapped over envs.
            noise = jax.random.normal(jax.random.fold_in(key, iteration), shape)
            actions = jnp.clip(mean + std * noise, low, high)
            returns = returns_fn(model_state, obs, task, actions)
            # Elites by value: the indices of the num_elites largest predicted returns.
            top_returns, elite_idx = jax.lax.top_k(returns, config.num_elites)
            elites = actions[elite_idx]  # (num_elites, H, A)
            a = config.cem_alpha
            mean = a * mean + (1 - a) * elites.mean(0)
            std = a * std + (1 - a) * elites.std(0)
            return (mean, std, jnp.maximum(best_return, top_returns[0])), None

        init = (mean, std, jnp.array(-jnp.inf))
        (mean, _, best_return), _ = jax.lax.scan(refit, init,
                                                 jnp.arange(config.num_cem_iterations))
        # The refitted mean averages out sampling noise; its first action is executed.
        return mean[0], best_return

    return random_shooting if config.method == "random_shooting" else cem
