"""Suite `artificial_pancreas`: trained insulin-dosing agents vs the baselines.

    python -m launch.benchmark --suite=artificial_pancreas          # trains what is missing
    python -m launch.evaluate --workdir=benchmarks/artificial_pancreas/ap_adults --days=20

For each cohort preset (`launch/presets.py`: ap_adults, ap_adolescents, ap_children) the
agent's run directory lives in `benchmarks/artificial_pancreas/<preset>/` (flags, metrics,
plots and the small `policy/` checkpoint; the full training checkpoints are deleted to keep
the repository small). A missing agent is trained first (`python -m launch.train
--preset=<preset>`), then evaluated with `launch.evaluate` on 20 held-out meal days per
patient (seed 1000; training used seeds from 0), sensor noise on, beside basal-bolus with
meal announcement, basal only and PID on the same days; the adults agent also under
insulin sensitivity -30% / +30% and the circadian scenario. Rows: one per controller.
"""

from __future__ import annotations

import json
import os

from benchmarks import DIR
from benchmarks.measure import device_name
from benchmarks.studies import run_dir

AGENT_DIR = os.path.join(DIR, "artificial_pancreas")
COHORTS = (("ap_adults", "adults"), ("ap_adolescents", "adolescents"),
           ("ap_children", "children"))
SCENARIOS = (("", ()), ("si -30%", ("--si_scale=0.7",)), ("si +30%", ("--si_scale=1.3",)),
             ("circadian", ("--circadian",)))
METRICS = ("tir", "tbr70", "tbr54", "tar180", "tar250", "mean", "cv")


def train_agent(preset: str, quick: bool) -> str:
    """The preset's run directory, trained now if it has no policy yet."""
    workdir = os.path.join(AGENT_DIR, preset if not quick else f"quick_{preset}")
    extra = ["--steps=4096", "--eval_days=1"] if quick else ["--eval_days=2"]
    return run_dir.train_if_missing(workdir, f"--preset={preset}", *extra)


def evaluate_rows(workdir: str, group: str, days: int, scenario: str, flags: tuple,
                  device: str) -> list[dict]:
    outdir = os.path.join(workdir, "evaluation_" + (scenario.replace(" ", "_").replace(
        "%", "pct").replace("+", "plus").replace("-", "minus") or "nominal"))
    run_dir.run_module("launch.evaluate", f"--workdir={workdir}", f"--days={days}",
                       f"--outdir={outdir}", *flags)
    with open(os.path.join(outdir, "evaluation.json")) as f:
        result = json.load(f)
    wall_s = run_dir.train_wall_s(workdir)
    rows = []
    for controller, summary in result["groups"][group].items():
        rows.append({"suite": "artificial_pancreas", "name": f"{controller} on {group}",
                     "scenario": scenario or "nominal", "batch_size": 10 * days,
                     **{m: round(100 * summary[m], 1) if m not in ("mean",) else
                        round(summary[m], 1) for m in METRICS},
                     "train_wall_s": round(wall_s)
                     if wall_s is not None and controller == "sac" else "",
                     "device": device})
    return rows


def run_suite(quick: bool = False) -> list[dict]:
    device = device_name()
    days = 1 if quick else 20
    rows = []
    for preset, group in (COHORTS[:1] if quick else COHORTS):
        workdir = train_agent(preset, quick)
        scenarios = SCENARIOS if group == "adults" and not quick else SCENARIOS[:1]
        for scenario, flags in scenarios:
            rows += evaluate_rows(workdir, group, days, scenario, flags, device)
    return rows
