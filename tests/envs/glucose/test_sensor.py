"""CGM noise against simglucose's CGMNoise: the same pipeline exactly, the same statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from simglucose.sensor.noise_gen import CGMNoise

from envs.glucose import sensor

SG_PARAMS = pd.read_csv(__import__("simglucose").__path__[0] + "/params/sensor_params.csv")


def _sg_params(name):
    return SG_PARAMS.loc[SG_PARAMS.Name == name].squeeze()


def _simglucose_noise(name, seed, n):
    gen = CGMNoise(_sg_params(name), seed=seed)
    return np.array([next(gen) for _ in range(n)])


@pytest.mark.parametrize("name", list(sensor.SENSORS))
def test_constants_match_simglucose_table(name):
    p, row = sensor.sensor(name), _sg_params(name)
    assert (p.sample_time_min, p.min_mg_dl, p.max_mg_dl) == (row.sample_time, row["min"],
                                                             row["max"])
    assert (p.pacf, p.gamma, p.lam, p.delta, p.xi) == (row.PACF, row.gamma, row["lambda"],
                                                       row.delta, row.xi)


@pytest.mark.parametrize("name", ["Dexcom", "GuardianRT"])
def test_same_normals_give_simglucose_noise_exactly(name):
    """Feeding simglucose's own normal draws through our AR/Johnson/spline maps."""
    p = sensor.sensor(name)
    n_chunks = 3
    z = np.random.RandomState(7).randn(1 + sensor.KNOTS_PER_CHUNK * n_chunks)
    a, b = sensor._ar_matrix(p.pacf)
    spline = sensor._spline_matrix(p)
    e_start, ours = z[0], []
    for c in range(n_chunks):
        zc = z[1 + c * 10: 1 + (c + 1) * 10]
        knots = np.concatenate([[e_start], a @ zc + b * e_start])
        ours.append(spline @ np.asarray(sensor.johnson_su(p, knots)))
        e_start = knots[-1]
    ours = np.concatenate(ours)
    ref = _simglucose_noise(name, 7, len(ours))
    np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_noise_statistics_match_simglucose():
    """Pooled distribution and autocorrelation over many seeds (distributions, not seeds)."""
    p = sensor.sensor("GuardianRT")
    num_seeds, n = 300, 90  # 300 sensors x 7.5 h
    ref = np.stack([_simglucose_noise("GuardianRT", s, n) for s in range(num_seeds)])
    keys = jax.random.split(jax.random.key(0), num_seeds)
    ours = np.asarray(jax.vmap(lambda k: sensor.noise_sequence(p, k, n))(keys))

    def stats(x):
        flat = x.ravel()
        lag1 = np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1]
        lag6 = np.corrcoef(x[:, :-6].ravel(), x[:, 6:].ravel())[0, 1]
        return dict(mean=flat.mean(), sd=flat.std(), q10=np.quantile(flat, 0.1),
                    q50=np.quantile(flat, 0.5), q90=np.quantile(flat, 0.9), lag1=lag1,
                    lag6=lag6)

    s_ours, s_ref = stats(ours), stats(ref)
    # Std errors with 300 independent sensors: sd ~ 12 mg/dL -> mean se ~ 1 mg/dL.
    assert abs(s_ours["mean"] - s_ref["mean"]) < 3.0, (s_ours, s_ref)
    assert abs(s_ours["sd"] / s_ref["sd"] - 1) < 0.1, (s_ours, s_ref)
    for q in ("q10", "q50", "q90"):
        assert abs(s_ours[q] - s_ref[q]) < 3.5, (q, s_ours, s_ref)
    assert abs(s_ours["lag1"] - s_ref["lag1"]) < 0.03, (s_ours, s_ref)
    assert abs(s_ours["lag6"] - s_ref["lag6"]) < 0.08, (s_ours, s_ref)


def test_measure_clips_to_range_and_continues_across_chunks():
    p = sensor.sensor("Dexcom")
    state = sensor.init(p, jax.random.key(1))
    cgm, _ = sensor.measure(p, state, jnp.float32(10.0))
    assert float(cgm) == p.min_mg_dl
    cgm, _ = sensor.measure(p, state, jnp.float32(900.0))
    assert float(cgm) == p.max_mg_dl
    eps = np.asarray(sensor.noise_sequence(p, jax.random.key(2), 120))
    # Continuity at the chunk boundary (sample 50 -> 51): no jump beyond the usual steps.
    steps = np.abs(np.diff(eps))
    assert steps[49] < 5 * np.median(steps) + 1.0


def test_unknown_sensor_lists_known():
    with pytest.raises(ValueError, match="Dexcom"):
        sensor.sensor("Libre")


@pytest.mark.parametrize("name", ["Dexcom", "GuardianRT", "Navigator"])
def test_incremental_draws_give_the_documented_streams(name):
    """The readings equal the pipeline fed with e_0 = normal(fold_in(key, E0_STREAM)) and
    z_n = normal(fold_in(key, n)) all at once (the state builds the next chunk's knots one per
    reading), over 4 chunks."""
    p = sensor.sensor(name)
    n_chunks, per_chunk = 4, sensor.samples_per_chunk(p)
    key_data = jax.random.key_data(jax.random.key(3))  # a fresh key per stream (reuse checker)

    def stream(n):
        return float(jax.random.normal(jax.random.fold_in(jax.random.wrap_key_data(key_data),
                                                          np.uint32(n))))

    e_start = stream(sensor.E0_STREAM)
    z = np.asarray([stream(n) for n in range(sensor.KNOTS_PER_CHUNK * n_chunks)])
    a, b = sensor._ar_matrix(p.pacf)
    spline = sensor._spline_matrix(p)
    expected = []
    for c in range(n_chunks):
        knots = np.concatenate([[e_start], a @ z[c * 10:(c + 1) * 10] + b * e_start])
        expected.append(spline @ np.asarray(sensor.johnson_su(p, knots)))
        e_start = knots[-1]
    ours = sensor.noise_sequence(p, jax.random.key(3), n_chunks * per_chunk)
    np.testing.assert_allclose(np.asarray(ours), np.concatenate(expected), atol=1e-3)


def test_sample_time_longer_than_a_knot_interval_is_rejected():
    p = sensor.sensor("Dexcom")._replace(sample_time_min=30.0)
    with pytest.raises(ValueError, match="at most 15"):
        sensor.init(p, jax.random.key(0))
