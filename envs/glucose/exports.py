"""What an evaluation leaves on disk beside `evaluation.json`, as simglucose users expect it.

    traces/<controller>/<patient>.csv   one row per control step of every evaluated day
    metrics_<controller>.csv            one row per patient (every metric of the summary)
    meals.csv                           the meals of every evaluated day: a scenario file
                                        (`envs.glucose.scenario`) that replays them

Trace columns: day, minute (since the episode start), time_of_day_min, bg_mg_dl (true blood
glucose), cgm_mg_dl, carbs_g (carbs started in the step), insulin_u_per_h (delivered), reward,
cost; all after the step. `read_trace` / `read_metrics` load them back.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from envs.glucose import scenario as scenario_lib

TRACE_COLUMNS = ("day", "minute", "time_of_day_min", "bg_mg_dl", "cgm_mg_dl", "carbs_g",
                 "insulin_u_per_h", "reward", "cost")
_FROM_TRACE = (("bg_mg_dl", "bg"), ("cgm_mg_dl", "cgm"), ("carbs_g", "meal_g"),
               ("insulin_u_per_h", "insulin_u_per_h"), ("reward", "reward"), ("cost", "cost"))


def write_traces(outdir: str, controller: str, patients, trace: dict, num_days: int,
                 dt_min: float, start_hour: float) -> list[str]:
    """One CSV per patient of `trace` (each `(P*N, T)`, patient-major); returns the paths."""
    folder = os.path.join(outdir, "traces", controller)
    os.makedirs(folder, exist_ok=True)
    steps = np.asarray(trace["bg"]).shape[1]
    minute = np.arange(1, steps + 1) * dt_min
    time_of_day = (start_hour * 60.0 + minute) % 1440.0
    paths = []
    for i, name in enumerate(patients):
        rows = slice(i * num_days, (i + 1) * num_days)
        columns = [np.repeat(np.arange(num_days), steps), np.tile(minute, num_days),
                   np.tile(time_of_day, num_days)]
        columns += [np.asarray(trace[key])[rows].reshape(-1) for _, key in _FROM_TRACE]
        path = os.path.join(folder, f"{name}.csv")
        np.savetxt(path, np.stack(columns, axis=1), delimiter=",", header=",".join(TRACE_COLUMNS),
                   comments="", fmt=["%d", "%g", "%g"] + ["%.6g"] * len(_FROM_TRACE))
        paths.append(path)
    return paths


def write_metrics(outdir: str, controller: str, patients: dict) -> str:
    """`metrics_<controller>.csv`: `patients` is `{name: {metric: value}}`."""
    path = os.path.join(outdir, f"metrics_{controller}.csv")
    names = list(next(iter(patients.values())))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["patient", *names])
        for patient, summary in patients.items():
            writer.writerow([patient, *(f"{summary[n]:.6g}" for n in names)])
    return path


def write_meals(outdir: str, used: scenario_lib.Scenario) -> str:
    return scenario_lib.write_csv(os.path.join(outdir, "meals.csv"), used)


def read_trace(path: str) -> dict[str, np.ndarray]:
    """A trace CSV back as `{column: (rows,)}`."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {name: data[:, i] for i, name in enumerate(TRACE_COLUMNS)}


def read_metrics(path: str) -> dict[str, dict[str, float]]:
    with open(path, newline="") as f:
        return {row.pop("patient"): {k: float(v) for k, v in row.items()}
                for row in csv.DictReader(f)}
