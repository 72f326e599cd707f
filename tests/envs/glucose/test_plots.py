"""The AGP binning against hand computations, and that the report plots write PNGs."""

import numpy as np
import pytest

from envs.glucose import metrics, plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_agp_wraps_at_midnight_from_start_hour():
    # 24 h at 5 min from 18:00: reading k is at minute 1080 + 5k (mod 1440). With 15-min bins,
    # bin 72 (18:00) holds readings 0, 1, 2; bin 0 (00:00) holds k = 360 / 5 = 72, 73, 74;
    # bin 71 (17:45) holds the last three, 285, 286, 287. Values equal k.
    cgm = np.arange(288.0)[None]
    hours, values = plots.agp_percentiles(cgm, dt_min=5.0, start_hour=18.0, bin_min=15.0)
    assert hours.shape == (96,) and values.shape == (5, 96)
    assert hours[72] == 18.0 and hours[0] == 0.0 and hours[71] == 17.75
    # Percentiles of (0, 1, 2), linear interpolation: rank p/100 * 2 -> 0.1, 0.5, 1, 1.5, 1.9.
    np.testing.assert_allclose(values[:, 72], [0.1, 0.5, 1.0, 1.5, 1.9])
    np.testing.assert_allclose(values[:, 0], [72.1, 72.5, 73.0, 73.5, 73.9])
    np.testing.assert_allclose(values[:, 71], [285.1, 285.5, 286.0, 286.5, 286.9])
    assert np.isfinite(values).all()  # a full day fills every bin


def test_agp_pools_episodes_and_leaves_empty_bins_nan():
    # Two 15-min episodes (3 readings) from 23:45 at 5 min, 30-min bins: both fall in bin 47
    # (23:30-24:00); pooled values 0, 1, 2, 10, 11, 12: median (2 + 10) / 2 = 6; the 25th
    # percentile at rank 1.25 -> 1.25, the 75th at rank 3.75 -> 10.75.
    cgm = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
    hours, values = plots.agp_percentiles(cgm, 5.0, start_hour=23.75, bin_min=30.0)
    assert hours.shape == (48,) and hours[47] == 23.5
    np.testing.assert_allclose(values[1:4, 47], [1.25, 6.0, 10.75])
    assert np.isnan(np.delete(values, 47, axis=1)).all()
    # Crossing midnight: from 23:55 the second reading (00:00) lands in bin 0.
    _, values = plots.agp_percentiles(np.array([5.0, 7.0]), 5.0, start_hour=23 + 55 / 60,
                                      bin_min=30.0)
    np.testing.assert_allclose(values[2, [47, 0]], [5.0, 7.0])


def test_agp_percentiles_rejects_bad_input():
    with pytest.raises(ValueError, match="agp_percentiles"):
        plots.agp_percentiles(np.ones((2, 3)), dt_min=0.0)


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def test_plot_agp_report_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(288)
    cgm = 140 + 60 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 25, size=(7, 288))
    cgm[0, 10:14] = 45.0  # one level-2 event
    path = str(tmp_path / "agp_report.png")
    assert plots.plot_agp_report(cgm, 5.0, path, title="adult#001", start_hour=6.0) == path
    assert _is_png(path) and (tmp_path / "agp_report.png").stat().st_size > 10_000
    # Given statistics replace the computed ones.
    stats = {**{k: float(v) for k, v in metrics.summary(cgm.ravel()).items()}, "note": "bg"}
    path2 = str(tmp_path / "agp_report_stats.png")
    assert plots.plot_agp_report(cgm, 5.0, path2, stats=stats) == path2
    assert _is_png(path2)


def test_plot_cvga_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    g = rng.normal(150, 40, size=(2, 10, 288))
    points = {"pid": metrics.cvga_point(g[0]), "rl": metrics.cvga_point(g[1] + 60.0)}
    path = str(tmp_path / "cvga.png")
    assert plots.plot_cvga(points, path, title="CVGA") == path
    assert _is_png(path) and (tmp_path / "cvga.png").stat().st_size > 10_000


def test_cvga_grid_coordinates_equal_squares():
    x, y = plots.cvga_grid_coordinates([110, 90, 70, 50, 200, 20, 80],
                                       [110, 180, 300, 400, 50, 900, 240])
    np.testing.assert_allclose(x, [0, 20, 40, 60, 0, 60, 30])
    np.testing.assert_allclose(y, [0, 20, 40, 60, 0, 60, 30])
