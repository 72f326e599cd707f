"""Benchmark suite `artificial_pancreas`: trained insulin-dosing agents vs the baselines.

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
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT_DIR = os.path.join(ROOT, "benchmarks", "artificial_pancreas")
COHORTS = (("ap_adults", "adults"), ("ap_adolescents", "adolescents"),
           ("ap_children", "children"))
SCENARIOS = (("", ()), ("si -30%", ("--si_scale=0.7",)), ("si +30%", ("--si_scale=1.3",)),
             ("circadian", ("--circadian",)))
METRICS = ("tir", "tbr70", "tbr54", "tar180", "tar250", "mean", "cv")


def _python(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", *args], cwd=ROOT, check=True)
    return time.perf_counter() - start


def train_agent(preset: str, quick: bool) -> str:
    """The preset's run directory, trained now if it has no policy yet."""
    workdir = os.path.join(AGENT_DIR, preset if not quick else f"quick_{preset}")
    if not os.path.isdir(os.path.join(workdir, "policy")):
        extra = ["--steps=4096", "--eval_days=1"] if quick else ["--eval_days=2"]
        wall = _python("launch.train", f"--preset={preset}", f"--workdir={workdir}",
                       "--progress=false", *extra)
        with open(os.path.join(workdir, "train_wall_s.json"), "w") as f:
            json.dump({"train_wall_s": wall}, f)
        shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
    return workdir


def evaluate_rows(workdir: str, group: str, days: int, scenario: str, flags: tuple,
                  device: str) -> list[dict]:
    outdir = os.path.join(workdir, "evaluation_" + (scenario.replace(" ", "_").replace(
        "%", "pct").replace("+", "plus").replace("-", "minus") or "nominal"))
    _python("launch.evaluate", f"--workdir={workdir}", f"--days={days}", f"--outdir={outdir}",
            *flags)
    with open(os.path.join(outdir, "evaluation.json")) as f:
        result = json.load(f)
    wall = {}
    wall_path = os.path.join(workdir, "train_wall_s.json")
    if os.path.exists(wall_path):
        with open(wall_path) as f:
            wall = json.load(f)
    rows = []
    for controller, summary in result["groups"][group].items():
        rows.append({"suite": "artificial_pancreas", "name": f"{controller} on {group}",
                     "scenario": scenario or "nominal", "batch_size": 10 * days,
                     **{m: round(100 * summary[m], 1) if m not in ("mean",) else
                        round(summary[m], 1) for m in METRICS},
                     "train_wall_s": round(wall["train_wall_s"])
                     if "train_wall_s" in wall and controller == "sac" else "",
                     "device": device})
    return rows


def run_suite(quick: bool = False) -> list[dict]:
    from launch.benchmark import device_name

    device = device_name()
    days = 1 if quick else 20
    rows = []
    for preset, group in (COHORTS[:1] if quick else COHORTS):
        workdir = train_agent(preset, quick)
        scenarios = SCENARIOS if group == "adults" and not quick else SCENARIOS[:1]
        for scenario, flags in scenarios:
            rows += evaluate_rows(workdir, group, days, scenario, flags, device)
    return rows
