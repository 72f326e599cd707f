"""Meal scenarios: a random daily generator (simglucose's `RandomScenario`) and fixed days.

A scenario is a `Meals` pytree of `M` meals: start times in minutes since the episode start
and carbohydrate in g; empty slots have 0 g. Random scenarios are sampled inside `jit` with
JAX keys. Per day, six candidate meals as in simglucose 0.2.11's `RandomScenario`:

    meal            probability  window (h)  time mean (h)  time sd (min)  carbs mean/sd (g)
    breakfast       0.95         5-9         7              60             45 / 10
    morning snack   0.30         9-10        9.5            30             10 / 5
    lunch           0.95         10-14       12             60             70 / 10
    afternoon snack 0.30         14-16       15             30             10 / 5
    dinner          0.95         16-20       18             60             80 / 10
    evening snack   0.30         20-23       21.5           30             10 / 5

Times are truncated normals on the window, rounded to the minute; amounts are normals rounded to
the gram and floored at 0. `scale` multiplies every amount (robustness tests: meals 50%
larger); `skip_prob` drops a drawn meal (missed meals); `delay_min` shifts every meal later.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

MINUTES_PER_DAY = 1440
PROBABILITY = (0.95, 0.3, 0.95, 0.3, 0.95, 0.3)
WINDOW_H = ((5, 9), (9, 10), (10, 14), (14, 16), (16, 20), (20, 23))
TIME_MEAN_H = (7.0, 9.5, 12.0, 15.0, 18.0, 21.5)
TIME_SD_MIN = (60.0, 30.0, 60.0, 30.0, 60.0, 30.0)
CARBS_MEAN_G = (45.0, 10.0, 70.0, 10.0, 80.0, 10.0)
CARBS_SD_G = (10.0, 5.0, 10.0, 5.0, 10.0, 5.0)
MEALS_PER_DAY = len(PROBABILITY)


@struct.dataclass
class Meals:
    """`M` meals; leaves `(M,)` (a leading batch axis when batched)."""

    time_min: jax.Array  # float32, minutes since the episode start (integers)
    carbs_g: jax.Array  # float32, g; 0 = no meal in this slot


def random_day_meals(key: jax.Array, num_days: int, start_time_min: float = 0.0,
                     scale: float = 1.0, skip_prob: float = 0.0, delay_min: float = 0.0
                     ) -> Meals:
    """Random meals for `num_days` days, `(6 * num_days,)` slots, in episode minutes.

    `start_time_min` is the time of day at the episode start (meals before it on the first day
    are dropped, i.e. their slot has 0 g).
    """
    shape = (num_days, MEALS_PER_DAY)
    skip = not (isinstance(skip_prob, (int, float)) and skip_prob == 0)
    # One uniform draw for everything (each `jax.random` call is a threefry loop of its own,
    # most of a batched reset's cost); normals by the inverse CDF, as `jax.random` does.
    u = jax.random.uniform(key, (3 + int(skip),) + shape)
    lb = np.array([w[0] for w in WINDOW_H]) * 60.0
    ub = np.array([w[1] for w in WINDOW_H]) * 60.0
    mu = np.array(TIME_MEAN_H) * 60.0
    sd = np.array(TIME_SD_MIN)
    time_of_day = jnp.round(mu + sd * _truncated_normal((lb - mu) / sd, (ub - mu) / sd, u[1]))
    carbs = jnp.maximum(jnp.round(jnp.asarray(CARBS_MEAN_G) + jnp.asarray(CARBS_SD_G)
                                  * _normal(u[2])), 0.0) * scale
    eaten = u[0] < jnp.asarray(PROBABILITY)
    if skip:
        eaten &= u[3] >= skip_prob
    day = jnp.arange(num_days, dtype=jnp.float32)[:, None]
    time = day * MINUTES_PER_DAY + time_of_day + delay_min - start_time_min
    eaten &= time >= 0
    return Meals(time_min=time.reshape(-1).astype(jnp.float32),
                 carbs_g=jnp.where(eaten, carbs, 0.0).reshape(-1).astype(jnp.float32))


def _normal(u: jax.Array) -> jax.Array:
    """Standard normals from uniforms on [0, 1) (the inverse CDF; 0 maps just inside -1)."""
    v = jnp.maximum(2.0 * u - 1.0, np.nextafter(np.float32(-1.0), np.float32(0.0)))
    return np.sqrt(2.0).astype(np.float32) * jax.lax.erf_inv(v)


def _truncated_normal(lower: np.ndarray, upper: np.ndarray, u: jax.Array) -> jax.Array:
    """Standard normals truncated to [lower, upper] from uniforms on [0, 1) (inverse CDF)."""
    a = np.array([math.erf(x / math.sqrt(2.0)) for x in lower.ravel()]).reshape(lower.shape)
    b = np.array([math.erf(x / math.sqrt(2.0)) for x in upper.ravel()]).reshape(upper.shape)
    z = np.sqrt(2.0).astype(np.float32) * jax.lax.erf_inv(
        (a + (b - a) * u).astype(jnp.float32))
    return jnp.clip(z, lower, upper)


def fixed_meals(meals: list[tuple[float, float]] | tuple, episode_minutes: float) -> Meals:
    """A fixed scenario from `(time_min, carbs_g)` pairs, checked before any simulation.

    Raises:
      ValueError: negative or non-finite carbs, or a time outside `[0, episode_minutes)`.
    """
    arr = np.asarray(meals, np.float64).reshape(-1, 2)
    for time, carbs in arr:
        if not np.isfinite(carbs) or carbs < 0:
            raise ValueError(f"Meal at {time} min has carbs {carbs} g: must be >= 0 and finite.")
        if not np.isfinite(time) or time < 0 or time >= episode_minutes:
            raise ValueError(f"Meal time {time} min lies outside the episode "
                             f"[0, {episode_minutes}) min.")
    return Meals(time_min=jnp.asarray(np.round(arr[:, 0]), jnp.float32),
                 carbs_g=jnp.asarray(arr[:, 1], jnp.float32))


def carbs_at(meals: Meals, minute: jax.Array) -> jax.Array:
    """Carbohydrate (g) of the meals that start at episode minute `minute`."""
    return jnp.sum(jnp.where(meals.time_min == minute, meals.carbs_g, 0.0))


def carbs_between(meals: Meals, start_min: jax.Array, end_min: jax.Array) -> jax.Array:
    """Carbohydrate (g) of the meals starting in `[start_min, end_min)`."""
    inside = (meals.time_min >= start_min) & (meals.time_min < end_min)
    return jnp.sum(jnp.where(inside, meals.carbs_g, 0.0))
