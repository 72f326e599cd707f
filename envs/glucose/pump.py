"""Insulin pumps (simglucose's Insulet and Cozmo limits), delivering in 0.05 U increments.

The pump takes a requested rate (U/h) for one control step of `dt_min` minutes. The amount
`rate * dt / 60` (U) plus what earlier steps could not deliver is delivered in whole
increments (0.05 U); the remainder is carried to the next step, so the delivered total tracks
the requested total to within one increment (a real pump's pulses; simglucose instead rounds a
rate in pmol/min, which leaves its increment without effect). Per step the pump delivers at
most `max_basal_u_per_h * dt / 60 + max_bolus_u`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp


class PumpParams(NamedTuple):
    name: str
    max_basal_u_per_h: float
    max_bolus_u: float
    increment_u: float


# From simglucose 0.2.11's pump_params.csv (MIT): its limits read as U/h and U.
PUMPS = {
    "Insulet": PumpParams("Insulet", max_basal_u_per_h=30.0, max_bolus_u=30.0, increment_u=0.05),
    "Cozmo": PumpParams("Cozmo", max_basal_u_per_h=35.0, max_bolus_u=75.0, increment_u=0.05),
}


def pump(name: str) -> PumpParams:
    """Looks a pump up by name; ValueError lists the known ones."""
    if name not in PUMPS:
        raise ValueError(f"Unknown insulin pump {name!r}. Known pumps: {', '.join(PUMPS)}")
    return PUMPS[name]


def max_dose_u(params: PumpParams, dt_min: float) -> float:
    """Most insulin (U) the pump delivers in one step of `dt_min` minutes."""
    return params.max_basal_u_per_h * dt_min / 60.0 + params.max_bolus_u


def deliver(params: PumpParams, rate_u_per_h, residual_u, dt_min: float):
    """One step: `(delivered_u, new_residual_u)` for a requested rate held over `dt_min`.

    `rate_u_per_h` must already be finite and >= 0 (the env sanitises actions).
    """
    requested = jnp.minimum(rate_u_per_h * dt_min / 60.0, max_dose_u(params, dt_min))
    total = requested + residual_u
    # The small epsilon keeps 0.1 U from becoming 0.05 U through float rounding.
    delivered = jnp.floor(total / params.increment_u + 1e-4) * params.increment_u
    return delivered, jnp.maximum(total - delivered, 0.0)
