"""Metrics against hand computations of the published formulas."""

import math
import statistics

import chex
import numpy as np
import pytest

from envs.glucose import metrics

TRACE = [50.0, 60.0, 100.0, 150.0, 200.0, 300.0, 180.0, 70.0]


def _f(g):  # Kovatchev 1997, written out by hand
    return 1.509 * (math.log(g) ** 1.084 - 5.381)


def test_summary_matches_hand_computation():
    s = metrics.summary(np.array(TRACE))
    n = len(TRACE)
    assert float(s["tir"]) == pytest.approx(4 / n)  # 100, 150, 180, 70 (bounds inclusive)
    assert float(s["tbr70"]) == pytest.approx(2 / n)
    assert float(s["tbr54"]) == pytest.approx(1 / n)
    assert float(s["tar180"]) == pytest.approx(2 / n)
    assert float(s["tar250"]) == pytest.approx(1 / n)
    mean = sum(TRACE) / n
    sd = statistics.stdev(TRACE)
    assert float(s["mean"]) == pytest.approx(mean, rel=1e-6)
    assert float(s["sd"]) == pytest.approx(sd, rel=1e-5)
    assert float(s["cv"]) == pytest.approx(sd / mean, rel=1e-5)
    assert float(s["gmi"]) == pytest.approx(3.31 + 0.02392 * mean, rel=1e-6)
    lbgi = sum(10 * _f(g) ** 2 for g in TRACE if _f(g) < 0) / n   # over ALL readings
    hbgi = sum(10 * _f(g) ** 2 for g in TRACE if _f(g) > 0) / n
    assert float(s["lbgi"]) == pytest.approx(lbgi, rel=1e-4)
    assert float(s["hbgi"]) == pytest.approx(hbgi, rel=1e-4)
    assert float(s["risk_index"]) == pytest.approx(lbgi + hbgi, rel=1e-4)


def test_risk_differs_from_simglucose_only_by_the_averaging_set():
    from simglucose.analysis.risk import risk_index

    s = metrics.summary(np.array(TRACE))
    sg_lbgi, sg_hbgi, _ = risk_index(np.array(TRACE), len(TRACE))
    n_low = sum(_f(g) < 0 for g in TRACE)
    n_high = sum(_f(g) > 0 for g in TRACE)
    # simglucose divides by the number of low (high) readings; the published index by all.
    assert float(s["lbgi"]) == pytest.approx(sg_lbgi * n_low / len(TRACE), rel=1e-4)
    assert float(s["hbgi"]) == pytest.approx(sg_hbgi * n_high / len(TRACE), rel=1e-4)


def test_kovatchev_zero_and_magni_zero():
    g0 = math.exp(5.381 ** (1 / 1.084))  # ~112.5 mg/dL
    assert g0 == pytest.approx(112.5, abs=0.1)
    rl, rh = metrics.kovatchev_risk(np.array([g0]))
    assert float(rl[0]) < 1e-6 and float(rh[0]) < 1e-6
    gm = math.exp(3.7932 ** (1 / 0.8353))
    assert float(metrics.magni_risk(np.array([gm]))[0]) < 1e-5
    assert float(metrics.magni_risk(np.array([40.0]))[0]) == pytest.approx(
        10 * (3.35506 * (math.log(40.0) ** 0.8353 - 3.7932)) ** 2, rel=1e-5)


def test_vectorised_over_leading_axes():
    rng = np.random.default_rng(0)
    g = rng.uniform(40, 400, size=(2, 3, 50))
    s = metrics.summary(g)
    assert set(s) == set(metrics.METRIC_NAMES)
    for name, value in s.items():
        chex.assert_shape(value, (2, 3))
        single = metrics.summary(g[1, 2])[name]
        np.testing.assert_allclose(value[1, 2], single, rtol=1e-5, err_msg=name)


def test_rejects_scalar():
    with pytest.raises(ValueError, match="glucose_mg_dl"):
        metrics.summary(np.array(100.0))
