"""Running mean/variance of observations (Chan et al. parallel update), as pure functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class NormalizerState:
    mean: jax.Array  # (D,)
    m2: jax.Array  # (D,) sum of squared deviations
    count: jax.Array  # float32 scalar


def init(size: int) -> NormalizerState:
    return NormalizerState(mean=jnp.zeros((size,), jnp.float32),
                           m2=jnp.zeros((size,), jnp.float32), count=jnp.zeros((), jnp.float32))


def update(state: NormalizerState, batch: jax.Array) -> NormalizerState:
    """Folds a batch `(B, D)` into the statistics."""
    batch = batch.reshape(-1, state.mean.shape[0]).astype(jnp.float32)
    n = jnp.float32(batch.shape[0])
    batch_mean = batch.mean(axis=0)
    batch_m2 = ((batch - batch_mean) ** 2).sum(axis=0)
    total = state.count + n
    delta = batch_mean - state.mean
    mean = state.mean + delta * n / total
    m2 = state.m2 + batch_m2 + delta**2 * state.count * n / total
    return NormalizerState(mean=mean, m2=m2, count=total)


def std(state: NormalizerState, min_std: float = 1e-6) -> jax.Array:
    return jnp.sqrt(jnp.maximum(state.m2 / jnp.maximum(state.count, 1.0), min_std**2))


def normalize(state: NormalizerState, x: jax.Array, clip: float = 10.0) -> jax.Array:
    """(x - mean) / std, clipped to +-clip; the identity before any data was seen."""
    seen = state.count > 0
    mean = jnp.where(seen, state.mean, 0.0)
    scale = jnp.where(seen, std(state), 1.0)
    return jnp.clip((x - mean) / scale, -clip, clip)


def normalize_batch(state, batch):
    """Observations of a sampled `Transition` batch through `state.normalizer` when
    `state.config.normalize_observations` (a learner's training state), else unchanged."""
    if not state.config.normalize_observations:
        return batch
    return batch._replace(obs=normalize(state.normalizer, batch.obs),
                          next_obs=normalize(state.normalizer, batch.next_obs))
