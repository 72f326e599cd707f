"""Run directories of the studies that train through `python -m launch.train` (the shipped
agents): trained once, timed, and kept small."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from benchmarks import ROOT

WALL_FILE = "train_wall_s.json"


def run_module(module: str, *args: str) -> float:
    """Seconds `python -m <module> <args>` took, run from the repository root; raises if it
    fails."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, check=True)
    return time.perf_counter() - start


def train_if_missing(workdir: str, *train_flags: str) -> str:
    """`workdir`, trained now by `python -m launch.train <train_flags>` if it has no `policy/`
    yet, the wall clock written to `train_wall_s.json`. The full training checkpoints are
    deleted (the small `policy/` checkpoint stays)."""
    if not os.path.isdir(os.path.join(workdir, "policy")):
        wall_s = run_module("launch.train", *train_flags, f"--workdir={workdir}",
                            "--progress=false")
        with open(os.path.join(workdir, WALL_FILE), "w") as f:
            json.dump({"train_wall_s": wall_s}, f)
    shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
    return workdir


def train_wall_s(workdir: str) -> float | None:
    """Seconds `train_if_missing` took to train `workdir`; None if it did not train it."""
    path = os.path.join(workdir, WALL_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["train_wall_s"]
