"""CGM sensors (Dexcom, GuardianRT, Navigator) with the Johnson-system noise, seeded by JAX keys.

The noise model is Breton & Kovatchev's (J Diabetes Sci Technol 2008), with the parameters
simglucose ships in `sensor_params.csv`:

* an AR(1) process on a 15-minute grid, e_0 ~ N(0, 1), e_k = PACF (e_{k-1} + z_k), z_k ~ N(0, 1)
  (simglucose's recursion, kept as is: its stationary variance is PACF^2 / (1 - PACF^2) = 0.96);
* the Johnson SU transform eps = xi + lambda sinh((e - gamma) / delta), in mg/dL;
* cubic-spline interpolation to the sensor's sample time, computed chunk by chunk over 10
  fifteen-minute intervals (150 min), each chunk starting from the last knot of the previous one
  (scipy's `interp1d(kind="cubic")`, a not-a-knot spline, as in simglucose's `CGMNoise`; the
  spline over 11 uniform knots is a fixed linear map, precomputed here as a matrix);
* the reading CGM = subcutaneous glucose + eps, clipped to the sensor's range.

A sensor state holds the noise at the current chunk's knots, the next chunk's knots built so
far, the sample index inside the chunk and the episode's sensor key. Knot n of the AR
sequence (n = 10 c + j + 1, innovation j of chunk c) draws its innovation from
`fold_in(key, 10 c + j)`, and e_0 is drawn from `fold_in(key, E0_STREAM)`, so one step never
consumes a key and the noise does not depend on how often the state is copied. A planner that
copies the env state sees the same future sensor noise (it is an exogenous process).

Cost: the next chunk's 10 knots are built one per reading, during the first 10 readings of the
current chunk (a chunk has 30 to 150 readings): one normal, one step of the AR recursion and one
Johnson transform per reading. Once vmapped, a select computes both sides of every branch at
every step, so drawing all 10 innovations at the chunk's end would cost 10 normals per step
(about a third of the env's step at batch 16,384), and transforming the 11 knots at each
reading cost 11 `sinh` per step (the largest single fusion of the training stack's step at
16,384 envs in a profile, about 12% of it).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

KNOT_INTERVAL_MIN = 15.0  # AR(1) grid of the noise model
KNOTS_PER_CHUNK = 10  # simglucose's PRECOMPUTE: intervals per interpolated chunk
CHUNK_MIN = KNOT_INTERVAL_MIN * KNOTS_PER_CHUNK
E0_STREAM = 0xFFFFFFFF  # fold_in data of e_0's draw (innovations use 0, 1, 2, ...)


class SensorParams(NamedTuple):
    """One sensor's constants (simglucose `sensor_params.csv`)."""

    name: str
    sample_time_min: float
    min_mg_dl: float
    max_mg_dl: float
    pacf: float
    gamma: float
    lam: float
    delta: float
    xi: float


# Name, PACF, gamma, lambda, delta, xi, sample_time, min, max from simglucose 0.2.11 (MIT).
SENSORS = {
    "Dexcom": SensorParams("Dexcom", 3.0, 39.0, 600.0, 0.7, -0.5444, 15.9574, 1.6898, -5.47),
    "GuardianRT": SensorParams("GuardianRT", 5.0, 39.0, 600.0, 0.7, -0.5444, 15.9574, 1.6898,
                               -5.47),
    "Navigator": SensorParams("Navigator", 1.0, 32.0, 600.0, 0.7, -0.5444, 15.9574, 1.6898,
                              -5.47),
}


def sensor(name: str) -> SensorParams:
    """Looks a sensor up by name; ValueError lists the known ones."""
    if name not in SENSORS:
        raise ValueError(f"Unknown CGM sensor {name!r}. Known sensors: {', '.join(SENSORS)}")
    return SENSORS[name]


@struct.dataclass
class SensorState:
    noise_knots: jax.Array  # (KNOTS_PER_CHUNK + 1,) noise at the current chunk's knots, mg/dL
    # The next chunk's knots, built one per reading during the current chunk's first 10
    # readings: its noise values ([0] and the first `index` after it) and the AR value of the
    # newest one (the chunk's start value before any is drawn).
    next_noise_knots: jax.Array  # (KNOTS_PER_CHUNK + 1,) mg/dL
    next_ar: jax.Array  # float32, AR(1) value
    index: jax.Array  # int32, index of the next reading inside the chunk (0-based)
    chunk: jax.Array  # int32, number of the current chunk (0 for the first)
    # The episode's sensor key as raw key data (uint32): it is a seed that is never consumed
    # (chunks fold their number in), and as plain data it passes through wrappers that select
    # between states (auto-reset) without the key-reuse checker flagging it.
    key_data: jax.Array


def samples_per_chunk(params: SensorParams) -> int:
    n = CHUNK_MIN / params.sample_time_min
    if abs(n - round(n)) > 1e-9:
        raise ValueError(f"{params.name}: sample_time_min must divide {CHUNK_MIN} min.")
    if round(n) < KNOTS_PER_CHUNK:  # one innovation is drawn per reading (module docstring)
        raise ValueError(f"{params.name}: sample_time_min must be at most "
                         f"{CHUNK_MIN / KNOTS_PER_CHUNK} min.")
    return int(round(n))


def _spline_matrix(params: SensorParams) -> np.ndarray:
    """(samples_per_chunk, 11) map from knot values to readings at t = dt, 2 dt, ..., 150 min.

    Applies scipy's cubic interp1d to the unit vectors, so it is that spline exactly.
    """
    from scipy.interpolate import interp1d

    t_knots = np.arange(KNOTS_PER_CHUNK + 1) * KNOT_INTERVAL_MIN
    t = np.arange(1, samples_per_chunk(params) + 1) * params.sample_time_min
    eye = np.eye(KNOTS_PER_CHUNK + 1)
    return np.stack([interp1d(t_knots, eye[j], kind="cubic")(t) for j in range(len(eye))],
                    axis=1).astype(np.float32)


def _ar_matrix(pacf: float) -> tuple[np.ndarray, np.ndarray]:
    """e_k = pacf^k e_0 + sum_{j<=k} pacf^(k-j+1) z_j, k = 1..10, as (A z + b e_0)."""
    k = np.arange(1, KNOTS_PER_CHUNK + 1)
    a = np.where(k[:, None] >= k[None, :], pacf ** (k[:, None] - k[None, :] + 1.0), 0.0)
    return a.astype(np.float32), (pacf**k).astype(np.float32)


def johnson_su(params: SensorParams, e):
    """Johnson SU transform of a standard-normal-like value to noise in mg/dL."""
    return params.xi + params.lam * jnp.sinh((e - params.gamma) / params.delta)


def _innovation(key: jax.Array, chunk: jax.Array, j: jax.Array) -> jax.Array:
    """z_j of `chunk`: a standard normal from its own stream, fold_in(key, 10 chunk + j)."""
    return jax.random.normal(jax.random.fold_in(key, chunk * KNOTS_PER_CHUNK + j))


def _chunk_knots(params: SensorParams, innovations: jax.Array, e_start: jax.Array):
    """The chunk's 11 knots from its start value and its 10 innovations (the AR(1) recursion)."""
    a, b = _ar_matrix(params.pacf)
    return jnp.concatenate([e_start[None], a @ innovations + b * e_start])


def init(params: SensorParams, key: jax.Array) -> SensorState:
    """Fresh sensor: e_0 and the first chunk drawn from `key`'s streams (the key is kept, not
    consumed): e_0 = normal(fold_in(key, E0_STREAM)), z_n = normal(fold_in(key, n))."""
    samples_per_chunk(params)  # validates the sample time before any tracing
    # The 10 innovations and e_0 in one vmapped draw (each `jax.random` call is a threefry
    # loop of its own, most of a batched reset's cost).
    streams = jnp.append(jnp.arange(KNOTS_PER_CHUNK, dtype=jnp.uint32), jnp.uint32(E0_STREAM))
    z = jax.vmap(lambda n: jax.random.normal(jax.random.fold_in(key, n)))(streams)
    knots = _chunk_knots(params, z[:KNOTS_PER_CHUNK], z[KNOTS_PER_CHUNK])
    noise_knots = johnson_su(params, knots)
    return SensorState(noise_knots=noise_knots,
                       next_noise_knots=jnp.zeros_like(noise_knots).at[0].set(noise_knots[-1]),
                       next_ar=knots[-1], index=jnp.zeros((), jnp.int32),
                       chunk=jnp.zeros((), jnp.int32), key_data=jax.random.key_data(key))


def noise(params: SensorParams, state: SensorState) -> tuple[jax.Array, SensorState]:
    """The next reading's noise (mg/dL) and the advanced sensor state."""
    spline = jnp.asarray(_spline_matrix(params))
    eps = spline[state.index] @ state.noise_knots
    # One knot of the next chunk per reading, while index < 10: its innovation, the AR(1)
    # recursion e_k = PACF (e_{k-1} + z_k) and one Johnson transform (not 11 per reading).
    j = jnp.minimum(state.index, KNOTS_PER_CHUNK - 1)
    z = _innovation(jax.random.wrap_key_data(state.key_data), state.chunk + 1, j)
    ar = params.pacf * (state.next_ar + z)
    drawing = state.index < KNOTS_PER_CHUNK
    next_ar = jnp.where(drawing, ar, state.next_ar)
    next_noise_knots = jnp.where(
        drawing, state.next_noise_knots.at[j + 1].set(johnson_su(params, ar)),
        state.next_noise_knots)
    index = state.index + 1
    at_end = index >= samples_per_chunk(params)
    # At the chunk's end the next chunk becomes current; the one after starts at its last knot.
    following = next_noise_knots.at[0].set(next_noise_knots[-1])
    new_state = SensorState(noise_knots=jnp.where(at_end, next_noise_knots, state.noise_knots),
                            next_noise_knots=jnp.where(at_end, following, next_noise_knots),
                            next_ar=next_ar, index=jnp.where(at_end, 0, index),
                            chunk=state.chunk + at_end.astype(jnp.int32),
                            key_data=state.key_data)
    return eps, new_state


def measure(params: SensorParams, state: SensorState, glucose_mg_dl: jax.Array):
    """One CGM reading of subcutaneous glucose: (cgm_mg_dl clipped to range, new state)."""
    eps, state = noise(params, state)
    cgm = jnp.clip(glucose_mg_dl + eps, params.min_mg_dl, params.max_mg_dl)
    return cgm.astype(jnp.float32), state


def noise_sequence(params: SensorParams, key: jax.Array, num_samples: int) -> jax.Array:
    """`(num_samples,)` consecutive noise values of one sensor (a `lax.scan`)."""

    def body(state, _):
        eps, state = noise(params, state)
        return state, eps

    _, eps = jax.lax.scan(body, init(params, key), None, length=num_samples)
    return eps
