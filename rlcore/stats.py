"""Summary statistics over independent runs (seeds), as rliable recommends.

Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical Precipice":
report the interquartile mean (IQM) with a percentile-bootstrap confidence interval, not
the mean of a few seeds alone. Host-side NumPy on a 1-D array of per-run scores (N runs);
never inside jit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _scores(x) -> np.ndarray:
    x = np.asarray(x, np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("need at least one score.")
    return x


def mean(x) -> float:
    """The arithmetic mean of the scores."""
    return float(np.mean(_scores(x)))


def interquartile_mean(x) -> float:
    """IQM: the mean of the middle half of the sorted scores.

    `floor(N / 4)` scores are dropped from each end (scipy's `trim_mean(x, 0.25)`, which
    rliable uses): N = 8 keeps the 3rd to 6th smallest; N < 4 keeps all.
    """
    x = np.sort(_scores(x))
    cut = int(0.25 * x.size)
    return float(np.mean(x[cut:x.size - cut]))


def bootstrap_ci(x, statistic: Callable[[np.ndarray], float] = interquartile_mean,
                 confidence: float = 0.95, num_resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of `statistic` over runs.

    Draws `num_resamples` resamples of the N scores with replacement, applies `statistic`
    to each, and returns the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles of
    those values (rliable's default `percentile` method). Deterministic for a given `seed`.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}.")
    x = _scores(x)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, x.size, size=(num_resamples, x.size))
    values = np.array([statistic(x[row]) for row in indices])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarize(x, confidence: float = 0.95, num_resamples: int = 2000,
              seed: int = 0) -> dict[str, float]:
    """`{"mean", "iqm", "iqm_ci_low", "iqm_ci_high"}` of per-run scores (non-finite scores,
    e.g. a run without finished episodes, are left out; all NaN gives NaNs)."""
    x = np.asarray(x, np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    if x.size == 0:
        nan = float("nan")
        return {"mean": nan, "iqm": nan, "iqm_ci_low": nan, "iqm_ci_high": nan}
    low, high = bootstrap_ci(x, interquartile_mean, confidence, num_resamples, seed)
    return {"mean": mean(x), "iqm": interquartile_mean(x), "iqm_ci_low": low,
            "iqm_ci_high": high}
