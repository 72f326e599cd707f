"""PEARL on held-out patients: `python -m launch.benchmark --suite=pearl_glucose [--quick]`.

For each seed of `SEEDS` (each draws a different split of glucose/adults: 7 train, 3 held-out
patients) the run directory `benchmarks/pearl_glucose/seed_<s>/` is trained first if it has no
policy yet:

    python -m launch.train --preset=ap_pearl --seed=<s> \
        --workdir=benchmarks/pearl_glucose/seed_<s> --eval_days=10

which ends with the held-out report (`benchmarks.studies.pearl_patients`: 10 chains of 3
consecutive meal days per held-out patient, sensor noise on, no meal announcement for PEARL;
day 1 with z from the prior, days 2 and 3 with z from the posterior after 1 and 2 days of
context; basal-only and basal-bolus with meal announcement on the same 30 days), written to
`pearl_glucose.json` in the run directory. A run directory without that file is evaluated from
its saved policy. The full training checkpoints are deleted afterwards (the policy stays).

Rows: per seed, the mean over its held-out patients and each patient, one row per controller
(TIR 70-180, TBR < 70, TBR < 54, TAR > 180 in %, mean mg/dL), the paired TIR gain of each
posterior day over day 1 of the same chain (mean and standard error over the chains), then
one training row per seed (env steps, wall clock, env and gradient steps per second, compile
time). Plot:
`benchmarks/pearl_glucose.png`.
"""

from __future__ import annotations

import json
import os

from benchmarks import DIR
from benchmarks.measure import device_name
from benchmarks.report import pyplot, save_figure, write_json
from benchmarks.studies import run_dir

RUN_DIR = os.path.join(DIR, "pearl_glucose")
SEEDS = (0, 1)
NUM_CHAINS = 10
PERCENT = ("tir", "tbr70", "tbr54", "tar180")


def train_run(seed: int, quick: bool) -> str:
    """The seed's run directory, trained now if it has no policy yet."""
    workdir = os.path.join(RUN_DIR, f"quick_seed_{seed}" if quick else f"seed_{seed}")
    extra = (["--steps=20000", "--config.grad_steps_per_iteration=200",
              "--config.eval_every_steps=1", "--eval_days=2"] if quick
             else [f"--eval_days={NUM_CHAINS}"])
    return run_dir.train_if_missing(workdir, "--preset=ap_pearl", f"--seed={seed}", *extra)


def _report(workdir: str, seed: int, num_chains: int) -> dict:
    path = os.path.join(workdir, "pearl_glucose.json")
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
        if report["settings"]["num_chains"] == num_chains and "per_day" in report:
            return report
    from benchmarks.studies import pearl_patients as glucose_eval

    report = glucose_eval.evaluate_run(workdir, num_chains=num_chains, seed=seed)
    write_json(path, report)
    return report


def _training_row(workdir: str, seed: int, device: str) -> dict:
    import csv

    with open(os.path.join(workdir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    wall_s = run_dir.train_wall_s(workdir)

    def mean(name):
        return sum(float(r[name]) for r in rows) / len(rows)

    return {"suite": "pearl_glucose", "name": f"seed {seed}: meta-training",
            "controller": "pearl", "batch_size": "",
            "env_steps": int(float(rows[-1]["step"])),
            "train_wall_s": round(wall_s) if wall_s is not None else "",
            "steps_per_s": mean("train/env_steps_per_s"),
            "grad_steps_per_s": mean("train/grad_steps_per_s"),
            "compile_s": float(rows[-1]["train/compile_s"]), "device": device}


def _gain_rows(report: dict, seed: int, device: str) -> list[dict]:
    """TIR of each posterior day minus TIR of day 1 (prior) of the same chain: mean over
    the held-out patients' chains and its standard error (chains as independent pairs)."""
    import numpy as np

    prior = np.asarray(report["per_day"]["pearl_prior"]["tir"]).ravel()
    rows = []
    for column in report["columns"]:
        if not column.startswith("pearl_posterior"):
            continue
        gain = 100 * (np.asarray(report["per_day"][column]["tir"]).ravel() - prior)
        rows.append({"suite": "pearl_glucose", "name": f"seed {seed}: paired gain",
                     "controller": f"{column} - pearl_prior", "batch_size": gain.size,
                     "tir": round(float(gain.mean()), 1),
                     "tir_se": round(float(gain.std(ddof=1) / np.sqrt(gain.size)), 1),
                     "device": device})
    return rows


def plot(reports: dict, path: str) -> str:
    import numpy as np

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    columns = next(iter(reports.values()))["columns"]
    width = 0.8 / len(reports)
    for i, (seed, report) in enumerate(reports.items()):
        x = np.arange(len(columns)) + i * width
        patients = ", ".join(report["settings"]["patients"])
        for ax, metric in zip(axes, ("tir", "tbr70")):
            ax.bar(x, [100 * report["mean"][c][metric] for c in columns], width,
                   label=f"seed {seed}: {patients}")
    for ax, title in zip(axes, ("TIR 70-180 mg/dL (%)", "TBR < 70 mg/dL (%)")):
        ax.set_xticks(np.arange(len(columns)) + 0.4 - width / 2)
        ax.set_xticklabels([c.replace("pearl_", "pearl\n") for c in columns], fontsize=8)
        ax.set_title(f"held-out patients, mean: {title}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


def run_suite(quick: bool = False) -> list[dict]:
    device = device_name()
    seeds = SEEDS[:1] if quick else SEEDS
    num_chains = 2 if quick else NUM_CHAINS
    rows, training, reports = [], [], {}
    for seed in seeds:
        workdir = train_run(seed, quick)
        report = reports[seed] = _report(workdir, seed, num_chains)
        days = report["settings"]["num_chains"]
        sections = [("mean", report["mean"])] + list(report["patients"].items())
        for section, by_column in sections:
            for column in report["columns"]:
                s = by_column[column]
                pooled = days * (report["settings"]["days_per_chain"]
                                 if not column.startswith("pearl") else 1)
                rows.append({"suite": "pearl_glucose", "name": f"seed {seed}: {section}",
                             "controller": column, "batch_size": pooled,
                             **{m: round(100 * s[m], 1) for m in PERCENT},
                             "mean": round(s["mean"], 1), "device": device})
        rows += _gain_rows(report, seed, device)
        training.append(_training_row(workdir, seed, device))
    if not quick:
        plot(reports, os.path.join(DIR, "pearl_glucose.png"))
    return rows + training
