"""Clinical glucose metrics: time in ranges, hypoglycaemia events, variability, risk, CVGA.

Axis convention: `glucose_mg_dl` is `(..., T)` readings `dt_min` minutes apart; every metric
reduces the last (time) axis and keeps the leading axes (patients, days, ...). Works on CGM
readings and on true blood glucose.

* Time in ranges per the international consensus (Battelino et al., Diabetes Care 2019,
  "Clinical targets for CGM data interpretation: recommendations from the International
  Consensus on Time in Range"), as fractions of readings in [0, 1]:
  - the five separate bands, which partition the readings (counts sum to T, fractions to 1):
    "tbr54" G < 54 (level 2 hypo), "tbr54_69" 54 <= G < 70 (level 1 hypo), "tir" 70 <= G <= 180,
    "tar181_250" 180 < G <= 250 (level 1 hyper), "tar250" G > 250 (level 2 hyper);
  - the cumulative ones the consensus also reports: "tbr70" G < 70 (= tbr54 + tbr54_69) and
    "tar180" G > 180 (= tar181_250 + tar250);
  - "titr", time in tight range 70 <= G <= 140 (the consensus' secondary target, e.g.
    Battelino et al., Lancet Diabetes Endocrinol 2023).
* Level-2 hypoglycaemia events (Battelino 2019, Table 1; Danne et al., Diabetes Care 2017): an
  event is a run of at least ceil(15 / dt_min) consecutive readings (15 min) below 54 mg/dL.
  Simplification: the run ends at the first reading >= 54 (the consensus ends an event only
  after 15 min >= 54, so two runs separated by a shorter recovery count as two events here).
  "hypo_events" is the count per row, "hypo_events_per_day" the count / (T dt_min / 1440 min).
* CV = SD / mean (a fraction; the consensus target is <= 0.36). SD is the sample SD (ddof=1),
  as CGM software reports it.
* GMI (%) = 3.31 + 0.02392 * mean glucose in mg/dL (Bergenstal et al., Diabetes Care 2018).
* Kovatchev's risk (Kovatchev et al., Diabetes Care 1997/2006): f(G) = 1.509 (ln(G)^1.084 -
  5.381), r(G) = 10 f^2, rl = r where f < 0 else 0, rh = r where f > 0 else 0; LBGI = mean(rl)
  and HBGI = mean(rh) over ALL readings, risk index = LBGI + HBGI. (simglucose's `risk_index`
  averages rl over the low readings only and rh over the high ones: not copied.)
* Magni's risk (Magni et al., J Diabetes Sci Technol 2007): 10 (3.35506 (ln(G)^0.8353 -
  3.7932))^2, the per-reading reward of Fox et al. 2020.
* `total_daily_insulin_u`: total daily insulin (TDI, U/day) from delivered rates in U/h.
* Control-variability grid analysis (CVGA; Magni et al., "Evaluating the efficacy of
  closed-loop glucose regulation via control-variability grid analysis", J Diabetes Sci
  Technol 2008, 2(4):630-635, doi:10.1177/193229680800200414): one point per patient, x = its
  lower BG (2.5th percentile of the readings), y = its upper BG (97.5th percentile), on a 3 x 3
  grid split at lower BG 90 and 70 mg/dL and upper BG 180 and 300 mg/dL. `cvga_point` and
  `cvga_zone` give the point and its zone; see `cvga_zone` for the grid.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# The consensus ranges (mg/dL): TIR is [TIR_LOW, TIR_HIGH] inclusive, TBR < 70 and < 54,
# TAR > 180 and > 250, TITR [TIR_LOW, TITR_HIGH] inclusive.
TIR_LOW, TIR_HIGH, TBR_SEVERE = 70.0, 180.0, 54.0
TAR_SEVERE, TITR_HIGH = 250.0, 140.0
# A level-2 hypoglycaemia event lasts at least this long below TBR_SEVERE.
HYPO_EVENT_MIN = 15.0
MINUTES_PER_DAY = 1440.0

# Names returned by `summary`, in table order.
METRIC_NAMES = ("tir", "titr", "tbr70", "tbr54", "tbr54_69", "tar180", "tar181_250", "tar250",
                "hypo_events", "hypo_events_per_day", "mean", "sd", "cv", "gmi", "lbgi", "hbgi",
                "risk_index")


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


def hypo_event_readings(dt_min: float) -> int:
    """Readings in a level-2 hypoglycaemia event: ceil(15 min / dt_min), e.g. 3 at 5 min."""
    if dt_min <= 0:
        raise ValueError(f"dt_min must be positive, got {dt_min}.")
    return max(1, math.ceil(round(HYPO_EVENT_MIN / dt_min, 9)))


def count_runs(mask, min_length: int):
    """Number of runs of at least `min_length` consecutive True along the last axis of `(..., T)`.

    Jittable without a loop over T: with c = cumsum(mask), the length of the run ending at t is
    c_t minus c at the last False before t (a running max), and each run of length >= L passes
    length L exactly once. Returns int32 `(...)`.
    """
    m = jnp.asarray(mask, jnp.int32)
    c = jnp.cumsum(m, axis=-1)
    last_reset = jax.lax.cummax(jnp.where(m > 0, 0, c), axis=m.ndim - 1)
    run_length = c - last_reset
    return jnp.sum(run_length == min_length, axis=-1, dtype=jnp.int32)


def summary(glucose_mg_dl, dt_min: float = 5.0) -> dict:
    """All metrics of `METRIC_NAMES` for readings `(..., T)` `dt_min` minutes apart.

    Each value has shape `(...)`. Fractions (tir, titr, tbr*, tar*, cv) are in [0, 1]; mean and
    sd in mg/dL; gmi in %; hypo_events a count (float32) and hypo_events_per_day per 24 h.
    `dt_min` (a Python float, static under jit) only enters the hypoglycaemia events.
    """
    g = jnp.asarray(glucose_mg_dl, jnp.float32)
    if g.ndim < 1 or g.shape[-1] < 2:
        raise ValueError(f"summary: glucose_mg_dl needs shape (..., T) with T >= 2, got {g.shape}.")
    event_readings = hypo_event_readings(dt_min)

    def frac(mask):
        return jnp.mean(mask.astype(jnp.float32), axis=-1)

    mean = jnp.mean(g, axis=-1)
    sd = jnp.std(g, axis=-1, ddof=1)
    rl, rh = kovatchev_risk(g)
    lbgi, hbgi = jnp.mean(rl, axis=-1), jnp.mean(rh, axis=-1)
    severe_low = g < TBR_SEVERE
    events = count_runs(severe_low, event_readings).astype(jnp.float32)
    days = g.shape[-1] * dt_min / MINUTES_PER_DAY
    return {
        "tir": frac((g >= TIR_LOW) & (g <= TIR_HIGH)),
        "titr": frac((g >= TIR_LOW) & (g <= TITR_HIGH)),
        "tbr70": frac(g < TIR_LOW),
        "tbr54": frac(severe_low),
        "tbr54_69": frac((g >= TBR_SEVERE) & (g < TIR_LOW)),
        "tar180": frac(g > TIR_HIGH),
        "tar181_250": frac((g > TIR_HIGH) & (g <= TAR_SEVERE)),
        "tar250": frac(g > TAR_SEVERE),
        "hypo_events": events,
        "hypo_events_per_day": events / days,
        "mean": mean,
        "sd": sd,
        "cv": sd / mean,
        "gmi": 3.31 + 0.02392 * mean,
        "lbgi": lbgi,
        "hbgi": hbgi,
        "risk_index": lbgi + hbgi,
    }


def total_daily_insulin_u(insulin_u_per_h, dt_min: float):
    """Mean units of insulin per day `(...)` from delivered rates `(..., T)` in U/h.

    Each rate holds for one step of `dt_min` minutes: units = sum(rate) dt_min / 60, over
    T dt_min / 1440 days, i.e. TDI = mean(rate) * 24.
    """
    rate = jnp.asarray(insulin_u_per_h, jnp.float32)
    if rate.ndim < 1 or dt_min <= 0:
        raise ValueError(f"total_daily_insulin_u: needs (..., T) rates and dt_min > 0, got "
                         f"{rate.shape}, {dt_min}.")
    units = jnp.sum(rate, axis=-1) * dt_min / 60.0
    return units / (rate.shape[-1] * dt_min / MINUTES_PER_DAY)


# CVGA grid (Magni et al. 2008), mg/dL: lower BG columns split at 90 and 70, upper BG rows at
# 180 and 300; the plot spans lower BG 110 (left) to 50 (right), upper BG 110 to 400.
CVGA_LOWER_SPLITS, CVGA_UPPER_SPLITS = (90.0, 70.0), (180.0, 300.0)
CVGA_LOWER_RANGE, CVGA_UPPER_RANGE = (50.0, 110.0), (110.0, 400.0)
CVGA_PERCENTILES = (2.5, 97.5)
CVGA_ZONES = ("A", "B", "C", "D", "E")
# Zone of each grid cell, CVGA_GRID[row][column]: rows upper BG <= 180, (180, 300], > 300;
# columns lower BG >= 90, [70, 90), < 70. Magni's names: A accurate control; B (lower B, B,
# upper B) benign deviations; C (lower C, upper C) over-correction; D (lower D, upper D)
# failure to deal with hypo-/hyperglycaemia; E erroneous control.
CVGA_GRID = (("A", "B", "C"),
             ("B", "B", "D"),
             ("C", "D", "E"))


def cvga_point(glucose_mg_dl):
    """CVGA coordinates of each row of `(..., T)` readings: `(lower_bg, upper_bg)`, each `(...)`.

    lower = 2.5th and upper = 97.5th percentile (linear interpolation, as `np.percentile`),
    the robust "min" and "max" BG used for the CVGA of in-silico trials (e.g. the UVA/Padova
    and simglucose reports; Magni et al. 2008 plot extreme BG). Not clipped: the plot clips to
    the grid's range, `cvga_zone` needs no clipping.
    """
    g = jnp.asarray(glucose_mg_dl, jnp.float32)
    if g.ndim < 1:
        raise ValueError(f"cvga_point: glucose_mg_dl needs shape (..., T), got {g.shape}.")
    lower, upper = jnp.percentile(g, jnp.asarray(CVGA_PERCENTILES), axis=-1)
    return lower, upper


def cvga_cell(lower_bg, upper_bg):
    """Grid cell `(row, column)` of CVGA points, each int `(...)` in {0, 1, 2} (numpy).

    row 0: upper <= 180, 1: 180 < upper <= 300, 2: upper > 300; column 0: lower >= 90,
    1: 70 <= lower < 90, 2: lower < 70. Ties go to the better cell, as the consensus ranges
    count 70 and 180 in range (simglucose's `CVGA_analysis` uses strict bounds: lower > 90
    and upper < 180 for A; it differs only on exact ties).
    """
    lower, upper = np.asarray(lower_bg, np.float64), np.asarray(upper_bg, np.float64)
    column = (lower < CVGA_LOWER_SPLITS[0]).astype(int) + (lower < CVGA_LOWER_SPLITS[1])
    row = (upper > CVGA_UPPER_SPLITS[0]).astype(int) + (upper > CVGA_UPPER_SPLITS[1])
    return row, column


def cvga_zone(lower_bg, upper_bg):
    """CVGA zone letter "A".."E" of points (Magni et al. 2008), as `CVGA_GRID` maps cells.

        upper BG > 300        | upper C | upper D | E
        180 < upper BG <= 300 | upper B | B       | lower D
        upper BG <= 180       | A       | lower B | lower C
                                lower >= 90 | 70-90 | < 70   (x axis: lower BG, reversed)

    Returns a str for scalar inputs, else a numpy array of str with the inputs' shape.
    """
    row, column = cvga_cell(lower_bg, upper_bg)
    zones = np.asarray(CVGA_GRID)[row, column]
    return str(zones) if zones.ndim == 0 else zones


def cvga_zone_fractions(lower_bg, upper_bg) -> dict:
    """Fraction of points in each zone, `{"A": ..., ..., "E": ...}` (sums to 1)."""
    zones = np.atleast_1d(cvga_zone(lower_bg, upper_bg))
    return {z: float(np.mean(zones == z)) for z in CVGA_ZONES}
