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


# Two hours of readings at dt 5 min (24 readings, 1/12 day), counted by hand:
#   idx  0-2   40, 45, 50           < 54, a run of 3 (15 min) at the start: event 1
#   idx  3     100                  70-180, TITR
#   idx  4-5   50, 53               < 54, a run of 2 (10 min): no event
#   idx  6     120                  70-180, TITR
#   idx  7-10  30, 35, 40, 45       < 54, a run of 4: event 2 (counted once)
#   idx 11-12  54, 60               54-69 (54 is not < 54)
#   idx 13-20  70, 140, 141, 180    70-180 (TITR: 70 and 140 only)
#              181, 250             181-250
#              251, 300             > 250
#   idx 21-23  20, 20, 20           < 54, a run of 3 at the end: event 3
# Bands: < 54: 3 + 2 + 4 + 3 = 12; 54-69: 2; 70-180: 100, 120, 70, 140, 141, 180 = 6;
# 181-250: 2; > 250: 2; 12 + 2 + 6 + 2 + 2 = 24. TITR: 100, 120, 70, 140 = 4.
EVENT_TRACE = [40.0, 45.0, 50.0, 100.0, 50.0, 53.0, 120.0, 30.0, 35.0, 40.0, 45.0, 54.0, 60.0,
               70.0, 140.0, 141.0, 180.0, 181.0, 250.0, 251.0, 300.0, 20.0, 20.0, 20.0]
EVENT_TRACE_EXPECTED = {
    "tbr54": 12 / 24, "tbr54_69": 2 / 24, "tir": 6 / 24, "tar181_250": 2 / 24,
    "tar250": 2 / 24, "tbr70": 14 / 24, "tar180": 4 / 24, "titr": 4 / 24,
    "hypo_events": 3.0, "hypo_events_per_day": 3 / (24 * 5 / 1440),  # = 36 per day
}
BANDS = ("tbr54", "tbr54_69", "tir", "tar181_250", "tar250")


def test_bands_events_and_titr_by_hand():
    s = metrics.summary(np.array(EVENT_TRACE), dt_min=5.0)
    for name, expected in EVENT_TRACE_EXPECTED.items():
        assert float(s[name]) == pytest.approx(expected, rel=1e-6), name
    assert sum(float(s[b]) for b in BANDS) == pytest.approx(1.0, abs=1e-6)
    # Every reading is in exactly one band: the band counts are integers summing to T.
    counts = [float(s[b]) * 24 for b in BANDS]
    np.testing.assert_allclose(counts, [12, 2, 6, 2, 2], atol=1e-4)


def test_bands_partition_random_readings_with_boundary_values():
    rng = np.random.default_rng(1)
    edges = np.array([53.9, 54.0, 69.9, 70.0, 140.0, 180.0, 180.1, 250.0, 250.1])
    g = np.concatenate([rng.uniform(20, 420, size=(4, 91)), np.tile(edges, (4, 1))], axis=-1)
    s = metrics.summary(g)
    total = sum(np.asarray(s[b]) for b in BANDS)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    np.testing.assert_allclose(s["tbr70"], s["tbr54"] + s["tbr54_69"], atol=1e-6)
    np.testing.assert_allclose(s["tar180"], s["tar181_250"] + s["tar250"], atol=1e-6)


@pytest.mark.parametrize("trace, dt_min, expected", [
    ([100, 50, 50, 100], 5.0, 0),            # 2 readings = 10 min: too short
    ([100, 50, 50, 50, 100], 5.0, 1),        # exactly 3 readings = 15 min
    ([50, 50, 50, 100, 50, 50, 50], 5.0, 2),  # two runs, one reading >= 54 between
    ([50, 50, 54, 50, 50], 5.0, 0),          # 54 is not < 54: it splits the run
    ([53.9] * 10, 5.0, 1),                   # one long run is one event
    ([50, 50, 50, 50, 100], 3.0, 0),         # at 3 min an event needs ceil(15/3) = 5
    ([50, 50, 50, 50, 50, 100], 3.0, 1),
    ([100, 50, 100, 50], 15.0, 2),           # at 15 min one reading suffices
])
def test_hypo_event_run_lengths(trace, dt_min, expected):
    s = metrics.summary(np.array(trace, float), dt_min=dt_min)
    assert float(s["hypo_events"]) == expected
    days = len(trace) * dt_min / 1440
    assert float(s["hypo_events_per_day"]) == pytest.approx(expected / days, rel=1e-6)


def test_hypo_event_readings():
    assert metrics.hypo_event_readings(5.0) == 3
    assert metrics.hypo_event_readings(3.0) == 5
    assert metrics.hypo_event_readings(1.0) == 15
    assert metrics.hypo_event_readings(4.0) == 4   # ceil(3.75)
    assert metrics.hypo_event_readings(30.0) == 1
    with pytest.raises(ValueError, match="dt_min"):
        metrics.hypo_event_readings(0.0)


class SummaryVariantsTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_jit_and_eager_agree_with_hand_values(self):
        summary = self.variant(lambda g: metrics.summary(g, dt_min=5.0))
        s = summary(np.array(EVENT_TRACE))
        for name, expected in EVENT_TRACE_EXPECTED.items():
            np.testing.assert_allclose(s[name], expected, rtol=1e-6, err_msg=name)
        eager = metrics.summary(np.array(TRACE))
        s = summary(np.array(TRACE))
        for name in metrics.METRIC_NAMES:
            np.testing.assert_allclose(s[name], eager[name], rtol=1e-5, err_msg=name)


def test_batched_patients_days_keep_leading_axes():
    # (P=2, N=3, T=24): the hand-counted trace, 24 readings in range, 24 below 54.
    rows = [EVENT_TRACE, [100.0] * 24, [40.0] * 24]
    g = np.array([rows, rows[::-1]])
    s = metrics.summary(g, dt_min=5.0)
    for name in metrics.METRIC_NAMES:
        chex.assert_shape(s[name], (2, 3))
    np.testing.assert_allclose(s["hypo_events"], [[3, 0, 1], [1, 0, 3]])
    np.testing.assert_allclose(s["hypo_events_per_day"], [[36, 0, 12], [12, 0, 36]], rtol=1e-6)
    np.testing.assert_allclose(s["tir"], [[6 / 24, 1, 0], [0, 1, 6 / 24]], rtol=1e-6)
    np.testing.assert_allclose(s["titr"], [[4 / 24, 1, 0], [0, 1, 4 / 24]], rtol=1e-6)
    np.testing.assert_allclose(s["tbr54"], [[0.5, 0, 1], [1, 0, 0.5]], rtol=1e-6)


def test_total_daily_insulin_by_hand():
    day_5min = 24 * 60 // 5  # 288 steps
    # 1 U/h for a day: 24 U/day.
    assert float(metrics.total_daily_insulin_u(np.ones(day_5min), 5.0)) == pytest.approx(24.0)
    # 2 U/h for 12 h then 0: 24 U over one day.
    half = np.concatenate([np.full(144, 2.0), np.zeros(144)])
    assert float(metrics.total_daily_insulin_u(half, 5.0)) == pytest.approx(24.0)
    # 0.5 U/h for two days at 3 min (960 steps): 24 U over 2 days = 12 U/day; batched.
    rates = np.stack([np.full(960, 0.5), np.full(960, 1.5)])[None]  # (1, 2, 960)
    tdi = metrics.total_daily_insulin_u(rates, 3.0)
    chex.assert_shape(tdi, (1, 2))
    np.testing.assert_allclose(tdi, [[12.0, 36.0]], rtol=1e-6)
    # One hour at 6 U/h in a 2-hour trace: 6 U in 1/12 day = 72 U/day.
    assert float(metrics.total_daily_insulin_u(np.r_[np.full(12, 6.0), np.zeros(12)], 5.0)
                 ) == pytest.approx(72.0)


def test_cvga_point_is_2p5_and_97p5_percentiles_by_hand():
    # 41 readings 100..140: the 2.5th percentile sits at rank 0.025 * 40 = 1 -> 101, the
    # 97.5th at rank 39 -> 139 (linear interpolation between order statistics).
    g = 100.0 + np.arange(41.0)
    lower, upper = metrics.cvga_point(g)
    assert float(lower) == pytest.approx(101.0) and float(upper) == pytest.approx(139.0)
    # 81 readings 0..80: ranks 0.025 * 80 = 2 and 78.
    np.testing.assert_allclose(metrics.cvga_point(np.arange(81.0)), [2.0, 78.0], rtol=1e-6)
    # (P=2, N=3, T=41) keeps the leading axes.
    lower, upper = metrics.cvga_point(np.broadcast_to(g, (2, 3, 41)))
    chex.assert_shape(lower, (2, 3))
    chex.assert_shape(upper, (2, 3))
    np.testing.assert_allclose(lower, 101.0, rtol=1e-6)
    np.testing.assert_allclose(upper, 139.0, rtol=1e-6)


@pytest.mark.parametrize("lower, upper, zone", [
    (100, 150, "A"),   # accurate control
    (80, 150, "B"),    # lower B
    (100, 250, "B"),   # upper B
    (80, 250, "B"),    # B
    (60, 150, "C"),    # lower C: over-correction of hyperglycaemia
    (100, 350, "C"),   # upper C: over-correction of hypoglycaemia
    (60, 250, "D"),    # lower D: failure to deal with hypoglycaemia
    (80, 350, "D"),    # upper D: failure to deal with hyperglycaemia
    (60, 350, "E"),    # erroneous control
    (130, 100, "A"),   # beyond the plotted range still classifies
    (30, 500, "E"),
    (90, 180, "A"),    # ties go to the better cell
    (70, 300, "B"),
    (89.9, 180, "B"),
    (90, 180.1, "B"),
    (69.9, 180, "C"),
    (69.9, 300.1, "E"),
])
def test_cvga_zone_each_cell(lower, upper, zone):
    assert metrics.cvga_zone(lower, upper) == zone


def test_cvga_zone_vectorised_and_fractions():
    lower = np.array([[100, 80], [60, 60]])
    upper = np.array([[150, 150], [350, 250]])
    np.testing.assert_array_equal(metrics.cvga_zone(lower, upper), [["A", "B"], ["E", "D"]])
    frac = metrics.cvga_zone_fractions(lower, upper)
    assert frac == {"A": 0.25, "B": 0.25, "C": 0.0, "D": 0.25, "E": 0.25}
