"""Benchmark suite `glucose`: the patient ODE, the dosing env, and simglucose for reference.

    python -m launch.benchmark --suite=glucose

* `patient ODE (SoA)`: simulated patient-minutes/s of `patient.simulate_batch` (structure of
  arrays: each compartment a `(B,)` row) at B = 1, 1,024 and 16,384, basal insulin and a meal.
* `patient ODE (vmap)`: the same model vmapped over a `(B,)` batch of single patients.
* `glucose env`: env steps/s (5-min control steps, with sensor noise, pump, meals, auto-reset
  and random actions) through `benchmarks.measure.measure_env_batches`: the batch sizes timed
  in interleaved rounds, `x_batch1` the ratio to batch 1 (issue #10 asks for 50x at 16,384).
* `simglucose`: its `T1DPatient.step`, one patient, minute by minute (the reference).
"""

from __future__ import annotations

import time

from benchmarks.measure import device_name, measure_env_batches, time_compiled


def patient_rows(batch_sizes, minutes: int, device: str) -> list[dict]:
    import jax
    import jax.numpy as jnp

    from envs.glucose import patient

    names = patient.population()
    rows = []
    for batch in batch_sizes:
        chosen = [names[i % len(names)] for i in range(batch)]
        params = patient.stacked_params(chosen)
        state = patient.initial_state(params)
        insulin = jnp.broadcast_to(patient.basal_u_per_min(params), (minutes, batch))
        meals = jnp.zeros((minutes, batch)).at[60].set(50.0)

        def soa(s, m, u, params=params):
            return patient.simulate_batch(params, s, m, u)[1][-1]

        def vmapped(s, m, u, params=params):
            one = lambda p, si, mi, ui: patient.simulate(p, si, mi, ui)[0].x.gp  # noqa: E731
            return jax.vmap(one, in_axes=(0, 0, 1, 1))(params, s, m, u)

        for label, fn in (("patient ODE (SoA)", soa), ("patient ODE (vmap)", vmapped)):
            compile_s, elapsed = time_compiled(fn, state, meals, insulin)
            rows.append({"suite": "glucose", "name": label, "batch_size": batch,
                         "steps_per_s": batch * minutes / elapsed, "compile_s": compile_s,
                         "unit": "patient-minutes/s", "device": device})
    return rows


def simglucose_row(minutes: int, device: str) -> dict:
    from simglucose.patient.t1dpatient import Action, T1DPatient

    p = T1DPatient.withName("adult#001")
    start = time.perf_counter()
    for t in range(minutes):
        p.step(Action(CHO=50.0 if t == 60 else 0.0, insulin=0.02))
    elapsed = time.perf_counter() - start
    return {"suite": "glucose", "name": "simglucose 0.2.11 T1DPatient", "batch_size": 1,
            "steps_per_s": minutes / elapsed, "compile_s": 0.0, "unit": "patient-minutes/s",
            "device": "cpu (one Python process)"}


def run_suite(quick: bool = False) -> list[dict]:
    import envs

    device = device_name()
    batches = (1, 256) if quick else (1, 1024, 16_384)
    rows = [simglucose_row(120 if quick else 1440, device)]
    rows += patient_rows(batches, 120 if quick else 1440, device)
    env = envs.make("glucose/all")
    env_batches = (1, 64) if quick else (1, 1024, 16_384)
    for row in measure_env_batches(env, env_batches, 24 if quick else 288):
        rows.append({"suite": "glucose", "name": "glucose env (glucose/all)", **row,
                     "device": device})
    reference = rows[0]["steps_per_s"]
    for row in rows:
        if row["unit"] == "patient-minutes/s":
            row["x_simglucose"] = row["steps_per_s"] / reference
    return rows
