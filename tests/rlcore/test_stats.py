"""IQM and bootstrap intervals against hand computations."""

import itertools

import numpy as np
import pytest

from rlcore import stats


def test_mean_and_iqm_by_hand():
    scores = [10.0, 1.0, 7.0, 3.0, 100.0, 5.0, 2.0, -50.0]
    assert stats.mean(scores) == pytest.approx(78.0 / 8)
    # Sorted: -50 1 2 3 5 7 10 100; the middle half is 2 3 5 7.
    assert stats.interquartile_mean(scores) == pytest.approx(17.0 / 4)
    # N = 5: floor(1.25) = 1 dropped from each end: 2 3 5 of 1 2 3 5 8.
    assert stats.interquartile_mean([8.0, 1.0, 3.0, 5.0, 2.0]) == pytest.approx(10.0 / 3)
    # N < 4 keeps everything.
    assert stats.interquartile_mean([1.0, 2.0, 9.0]) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="at least one"):
        stats.interquartile_mean([])


def test_bootstrap_of_two_scores_spans_both():
    # Resampled means of [0, 1]: 0 (p 1/4), 0.5 (p 1/2), 1 (p 1/4): the 2.5% and 97.5%
    # quantiles are 0 and 1.
    low, high = stats.bootstrap_ci([0.0, 1.0], stats.mean, num_resamples=4000)
    assert (low, high) == (0.0, 1.0)
    # 40%: the 30% and 70% quantiles both fall in the middle atom.
    assert stats.bootstrap_ci([0.0, 1.0], stats.mean, confidence=0.4,
                              num_resamples=4000) == (0.5, 0.5)


def test_bootstrap_matches_exact_enumeration():
    scores = np.array([0.0, 1.0, 4.0])
    # All 27 equally likely resamples of 3 scores: the exact distribution of their means.
    means = np.sort([scores[list(i)].mean() for i in itertools.product(range(3), repeat=3)])
    cdf = np.arange(1, 28) / 27

    def inverse_cdf(q):  # (its jumps at 10% and 90% lie 4% or more away: sampling-safe)
        return means[np.argmax(cdf >= q)]

    assert (inverse_cdf(0.1), inverse_cdf(0.9)) == (pytest.approx(1 / 3), 3.0)
    low, high = stats.bootstrap_ci(scores, stats.mean, confidence=0.8, num_resamples=20000)
    assert low == pytest.approx(inverse_cdf(0.1))
    assert high == pytest.approx(inverse_cdf(0.9))


def test_bootstrap_of_the_mean_agrees_with_the_normal_interval():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=400)
    low, high = stats.bootstrap_ci(x, stats.mean, num_resamples=2000)
    half = 1.96 * x.std() / np.sqrt(x.size)
    assert low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(x.mean() + half, abs=0.15 * half)


def test_constant_scores_and_summary():
    assert stats.bootstrap_ci([2.0] * 5) == (2.0, 2.0)
    summary = stats.summarize([1.0, 2.0, 3.0, 4.0, float("nan")])
    assert summary["mean"] == pytest.approx(2.5)
    assert summary["iqm"] == pytest.approx(2.5)  # 2 and 3
    assert summary["iqm_ci_low"] <= summary["iqm"] <= summary["iqm_ci_high"]
    assert summary["iqm_ci_low"] >= 1.0 and summary["iqm_ci_high"] <= 4.0
    assert all(np.isnan(v) for v in stats.summarize([float("nan")]).values())
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci([1.0], confidence=1.0)
