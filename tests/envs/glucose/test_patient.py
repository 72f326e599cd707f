"""The JAX UVA/Padova patient against simglucose, and its physical properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.glucose import patient, population
from tests.envs.glucose import simglucose_reference as ref

NAMES = patient.population()


@pytest.fixture(scope="module")
def simulate_all():
    """Jitted day of every patient, stacked params, inputs `(T, 30)`."""
    params = patient.stacked_params(NAMES)

    @jax.jit
    def run(meals_g, insulin):
        state = patient.initial_state(params)
        return patient.simulate_batch(params, state, meals_g, insulin)[1]

    return run


def _inputs(names, meals=ref.DAY_MEALS):
    pairs = [ref.basal_bolus_inputs(n, meals) for n in names]
    return (np.stack([m for m, _ in pairs], axis=1), np.stack([i for _, i in pairs], axis=1))


def test_population_is_the_30_public_patients():
    assert len(NAMES) == 30
    for group in ("adolescents", "adults", "children"):
        assert len(population.GROUPS[group]) == 10


def test_all_30_patients_match_stored_simglucose_day(simulate_all):
    """Basal-bolus day with three meals: max |BG - simglucose| <= 0.1 mg/dL for every patient."""
    stored = np.load(ref.REFERENCE_PATH)
    assert list(stored["names"]) == NAMES
    glucose = np.asarray(simulate_all(*_inputs(NAMES))).T  # (30, T)
    error = np.abs(glucose - stored["blood_glucose"]).max(axis=1)
    worst = NAMES[int(np.argmax(error))]
    assert error.max() <= 0.1, f"max error {error.max():.4f} mg/dL ({worst})"
    # The day must be a real test: meals move glucose far from basal.
    assert np.ptp(stored["blood_glucose"], axis=1).min() > 20.0


@pytest.mark.slow  # a minute of simglucose's Python ODE; the stored-trajectory test above is fast
def test_live_simglucose_on_another_day():
    """simglucose run now (not stored), two patients, a different meal day (20 hours)."""
    names = ["adolescent#003", "child#009"]
    meals = ((6 * 60 + 40, 60.0), (11 * 60 + 50, 30.0), (15 * 60, 15.0), (18 * 60 + 10, 95.0))
    meals_g, insulin = (x[:1200] for x in _inputs(names, meals))
    params = patient.stacked_params(names)
    ours = np.asarray(jax.jit(patient.simulate_batch)(
        params, patient.initial_state(params), meals_g, insulin)[1]).T
    for i, name in enumerate(names):
        theirs = ref.simglucose_blood_glucose(name, meals_g[:, i], insulin[:, i])
        np.testing.assert_allclose(ours[i], theirs, atol=0.1, err_msg=name)


def test_basal_insulin_and_no_meals_holds_basal_glucose(simulate_all):
    minutes = 1440
    params = patient.stacked_params(NAMES)
    basal = np.asarray(patient.basal_u_per_min(params))
    glucose = np.asarray(simulate_all(np.zeros((minutes, 30)), np.tile(basal, (minutes, 1))))
    basal_glucose = np.asarray(params.x0.gp / params.Vg)
    assert np.abs(glucose - basal_glucose).max() <= 1.0


def test_more_insulin_never_raises_glucose(simulate_all):
    meals_g, insulin = _inputs(NAMES)
    low = np.asarray(simulate_all(meals_g, insulin))
    high = np.asarray(simulate_all(meals_g, insulin * 1.5))
    assert np.all(high <= low + 1e-3)
    assert (low - high).max() > 10.0


def test_nan_and_negative_insulin_are_zero_and_states_stay_non_negative():
    p = patient.params("child#001")
    s = patient.initial_state(p)
    step = jax.jit(patient.step)
    zero = step(p, s, 0.0, 0.0)
    for bad in (jnp.nan, -1.0, jnp.inf):
        out = step(p, s, 0.0, bad)
        np.testing.assert_array_equal(jax.tree.leaves(out), jax.tree.leaves(zero))
    # A huge dose drives glucose low, but compartments never go negative.
    meals = np.zeros(600)
    insulin = np.full(600, 0.5)
    _, states = jax.jit(patient.simulate)(p, s, meals, insulin)
    for name in ("qsto1", "qsto2", "qgut", "gp", "gt", "ip", "il", "isc1", "isc2", "gs"):
        assert float(getattr(states.x, name).min()) >= 0.0, name


def test_unknown_patient_lists_valid_names():
    with pytest.raises(ValueError, match="adult#001"):
        patient.params("adult#099")


def test_random_initial_glucose_is_a_steady_state():
    p = patient.with_initial_glucose(patient.params("adult#004"), 180.0)
    s = patient.initial_state(p)
    _, states = jax.jit(patient.simulate)(p, s, np.zeros(720),
                                          np.full(720, float(patient.basal_u_per_min(p))))
    glucose = np.asarray(patient.blood_glucose(p, states))
    assert abs(glucose[0] - 180.0) < 0.5 and np.abs(glucose - 180.0).max() < 1.0
