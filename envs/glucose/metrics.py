"""Clinical glucose metrics: time in ranges, variability and Kovatchev's risk indices.

Axis convention: `glucose_mg_dl` is `(..., T)`; every metric reduces the last (time) axis and
keeps the leading axes (patients, days, ...). Works on CGM readings and on true blood glucose.

* Time in ranges per the international consensus (Battelino et al., Diabetes Care 2019):
  TIR 70-180 mg/dL inclusive, TBR < 70 and < 54, TAR > 180 and > 250, as fractions of readings
  (TBR70 includes the readings below 54; TAR180 includes those above 250, as the consensus
  reports them cumulatively).
* CV = SD / mean (a fraction; the consensus target is <= 0.36). SD is the sample SD (ddof=1),
  as CGM software reports it.
* GMI (%) = 3.31 + 0.02392 * mean glucose in mg/dL (Bergenstal et al., Diabetes Care 2018).
* Kovatchev's risk (Kovatchev et al., Diabetes Care 1997/2006): f(G) = 1.509 (ln(G)^1.084 -
  5.381), r(G) = 10 f^2, rl = r where f < 0 else 0, rh = r where f > 0 else 0; LBGI = mean(rl)
  and HBGI = mean(rh) over ALL readings, risk index = LBGI + HBGI. (simglucose's `risk_index`
  averages rl over the low readings only and rh over the high ones: not copied.)
* Magni's risk (Magni et al., J Diabetes Sci Technol 2007): 10 (3.35506 (ln(G)^0.8353 -
  3.7932))^2, the per-reading reward of Fox et al. 2020.
"""

from __future__ import annotations

import jax.numpy as jnp

# The consensus ranges (mg/dL): TIR is [TIR_LOW, TIR_HIGH] inclusive, TBR < 70 and < 54.
TIR_LOW, TIR_HIGH, TBR_SEVERE = 70.0, 180.0, 54.0

# Names returned by `summary`, in table order.
METRIC_NAMES = ("tir", "tbr70", "tbr54", "tar180", "tar250", "mean", "sd", "cv", "gmi",
                "lbgi", "hbgi", "risk_index")


def kovatchev_f(glucose_mg_dl):
    """Kovatchev's symmetrising transform f(G) = 1.509 (ln(G)^1.084 - 5.381); zero at ~112.5."""
    g = jnp.maximum(jnp.asarray(glucose_mg_dl, jnp.float32), 1.0)  # ln needs G > 1
    return 1.509 * (jnp.log(g) ** 1.084 - 5.381)


def kovatchev_risk(glucose_mg_dl):
    """Per-reading (low risk rl, high risk rh), each 10 f^2 on its side of f = 0 and 0 elsewhere."""
    f = kovatchev_f(glucose_mg_dl)
    r = 10.0 * f**2
    return jnp.where(f < 0, r, 0.0), jnp.where(f > 0, r, 0.0)


def magni_risk(glucose_mg_dl):
    """Magni et al. 2007 risk 10 (3.35506 (ln(G)^0.8353 - 3.7932))^2 per reading."""
    g = jnp.maximum(jnp.asarray(glucose_mg_dl, jnp.float32), 1.0)
    return 10.0 * (3.35506 * (jnp.log(g) ** 0.8353 - 3.7932)) ** 2


def summary(glucose_mg_dl) -> dict:
    """All metrics of `METRIC_NAMES` for readings `(..., T)`; each value has shape `(...)`.

    Fractions (tir, tbr*, tar*, cv) are in [0, 1]; mean and sd in mg/dL; gmi in %.
    """
    g = jnp.asarray(glucose_mg_dl, jnp.float32)
    if g.ndim < 1 or g.shape[-1] < 2:
        raise ValueError(f"summary: glucose_mg_dl needs shape (..., T) with T >= 2, got {g.shape}.")

    def frac(mask):
        return jnp.mean(mask.astype(jnp.float32), axis=-1)

    mean = jnp.mean(g, axis=-1)
    sd = jnp.std(g, axis=-1, ddof=1)
    rl, rh = kovatchev_risk(g)
    lbgi, hbgi = jnp.mean(rl, axis=-1), jnp.mean(rh, axis=-1)
    return {
        "tir": frac((g >= TIR_LOW) & (g <= TIR_HIGH)),
        "tbr70": frac(g < TIR_LOW),
        "tbr54": frac(g < TBR_SEVERE),
        "tar180": frac(g > 180.0),
        "tar250": frac(g > 250.0),
        "mean": mean,
        "sd": sd,
        "cv": sd / mean,
        "gmi": 3.31 + 0.02392 * mean,
        "lbgi": lbgi,
        "hbgi": hbgi,
        "risk_index": lbgi + hbgi,
    }
