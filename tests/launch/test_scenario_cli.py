"""simglucose's own custom-scenario example replayed through `launch.evaluate --scenario`:
the same blood-glucose trace as simglucose's patient under the same basal-bolus therapy, and
the CSV exports read back."""

import json
import os

import numpy as np
import pytest

from envs.glucose import exports, population, scenario
from tests.envs.glucose.simglucose_reference import simglucose_blood_glucose
from tests.launch.test_glucose_cli import _run

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "envs", "glucose", "data",
                       "simglucose_custom_scenario.csv")
PATIENT = "adolescent#001"  # the patient of simglucose's example


def test_simglucose_custom_scenario_replays_through_the_cli(tmp_path):
    out = _run("launch.evaluate", f"--env=glucose/{PATIENT}", "--controller=basal_bolus",
               f"--scenario={EXAMPLE}", "--sensor_noise=false", f"--outdir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    # A scenario is not the nominal evaluation: its own subdirectory.
    outdir = tmp_path / "robustness" / "sensor_noise=false_scenario=simglucose_custom_scenario"
    assert not (tmp_path / "evaluation.json").exists()
    with open(outdir / "evaluation.json") as f:
        result = json.load(f)
    assert result["settings"]["days"] == 1 and result["settings"]["scenario"]["num_days"] == 1
    assert result["settings"]["sensor_noise"] is False

    trace = exports.read_trace(str(outdir / "traces" / "basal_bolus" / f"{PATIENT}.csv"))
    dt = 5  # GuardianRT, the default sensor: 5-minute steps
    steps = len(trace["bg_mg_dl"])
    assert steps == 1440 // dt
    # The meals are the example's, at their minutes.
    meals = {int(m) - dt: c for m, c in zip(trace["minute"], trace["carbs_g"]) if c > 0}
    assert meals == {420: 45, 720: 70, 960: 15, 1080: 80, 1380: 10}
    # Basal-bolus therapy by hand: basal, plus carbs / carb ratio at each meal (and the
    # correction (CGM - 140) / CF when the last CGM is above 150), within the pump's 0.05 U.
    therapy = population.therapy(PATIENT)
    basal = population.basal_u_per_h(PATIENT)
    delivered_u = trace["insulin_u_per_h"] * dt / 60.0
    for k in range(1, steps):
        minute = k * dt
        bolus = 0.0
        if minute in meals:
            cgm = trace["cgm_mg_dl"][k - 1]
            correction = (cgm - 140.0) / therapy.correction_factor_mg_dl_per_u if cgm > 150 else 0
            bolus = max(meals[minute] / therapy.carb_ratio_g_per_u + correction, 0.0)
        assert delivered_u[k] == pytest.approx(basal * dt / 60.0 + bolus, abs=0.05 + 1e-6), k
    # simglucose's patient, stepped minute by minute with those carbs and that insulin.
    meals_g = np.zeros(1440)
    for minute, carbs in meals.items():
        meals_g[minute] = carbs
    insulin_u_per_min = np.repeat(trace["insulin_u_per_h"] / 60.0, dt)
    reference = simglucose_blood_glucose(PATIENT, meals_g, insulin_u_per_min)[dt - 1::dt]
    np.testing.assert_allclose(trace["bg_mg_dl"], reference, atol=0.1)

    # The per-patient metrics CSV agrees with evaluation.json; meals.csv replays the day.
    table = exports.read_metrics(str(outdir / "metrics_basal_bolus.csv"))
    assert table[PATIENT]["tir"] == pytest.approx(result["patients"][PATIENT]["basal_bolus"]["tir"],
                                                  rel=1e-5)
    used = scenario.read_csv(str(outdir / "meals.csv"))
    assert used.meals_of(PATIENT) == [(0, float(m), float(c)) for m, c in sorted(meals.items())]
