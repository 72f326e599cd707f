"""Tanh-squashed Gaussian policies. The only module that imports distrax.

An action is a = low + (tanh(u) + 1) / 2 * (high - low) with u ~ N(mean, std^2). Its
log-density follows the change of variables (Haarnoja et al. 2018, appendix C):
    log pi(a) = log N(u) - sum_i log |da_i/du_i|,
    da/du = (1 - tanh(u)^2) * (high - low) / 2,
with log(1 - tanh(u)^2) computed stably as 2 (log 2 - u - softplus(-2u)).
"""

from __future__ import annotations

from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp


class TanhGaussian(NamedTuple):
    """Shapes: `mean`, `std` `(..., A)`; `low`, `high` `(A,)` action bounds."""

    mean: jax.Array
    std: jax.Array
    low: jax.Array
    high: jax.Array

    def _base(self) -> distrax.Distribution:
        return distrax.MultivariateNormalDiag(self.mean, self.std)

    def _squash(self, u: jax.Array) -> jax.Array:
        return self.low + (jnp.tanh(u) + 1.0) * 0.5 * (self.high - self.low)

    def _log_det_jacobian(self, u: jax.Array) -> jax.Array:
        log_one_minus_tanh_sq = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
        return jnp.sum(log_one_minus_tanh_sq + jnp.log((self.high - self.low) * 0.5), axis=-1)

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Reparameterised sample `(..., A)` and its log-density `(...)`."""
        u = self._base().sample(seed=key)
        return self._squash(u), self._base().log_prob(u) - self._log_det_jacobian(u)

    def log_prob_pre_squash(self, u: jax.Array) -> jax.Array:
        """Log-density of the action squash(u), given the pre-squash value u."""
        return self._base().log_prob(u) - self._log_det_jacobian(u)

    def mode(self) -> jax.Array:
        """The deterministic action: squash(mean)."""
        return self._squash(self.mean)

    def entropy_of_base(self) -> jax.Array:
        return self._base().entropy()


def tanh_gaussian(params: jax.Array, low: jax.Array, high: jax.Array,
                  min_std: float = 1e-3, max_log_std: float = 2.0) -> TanhGaussian:
    """Builds the distribution from network outputs `(..., 2A)` = (mean, raw scale)."""
    mean, raw = jnp.split(params, 2, axis=-1)
    std = jax.nn.softplus(raw) + min_std
    std = jnp.minimum(std, jnp.exp(max_log_std))
    return TanhGaussian(mean, std, jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32))
