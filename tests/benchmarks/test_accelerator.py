"""The prepared accelerator run works before an accelerator appears: `benchmarks.accelerator
--quick` on the CPU, in a fresh process, writes every part's rows stamped with the device; and
a spent budget skips, saying so, instead of running over."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import accelerator
from tests.xla_flags import with_lowered_opt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_quick_dry_run_writes_every_part(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=with_lowered_opt(os.environ.get("XLA_FLAGS", "")))
    out = subprocess.run([sys.executable, "-m", "benchmarks.accelerator", "--quick",
                          f"--outdir={tmp_path}", "--budget_s=3600"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    (path,) = [p for p in os.listdir(tmp_path) if p.endswith(".json")]
    assert path.startswith("accelerator-cpu")
    with open(tmp_path / path) as f:
        record = json.load(f)
    assert record["device"].startswith("cpu") and record["command"].endswith("--quick")
    rows = record["rows"]
    assert not [r for r in rows if "skipped" in r]
    measured = {(r["part"], r["name"]) for r in rows}
    for name in accelerator.ENV_NAMES:
        assert ("envs", name) in measured, name
    assert ("patient ODE", "patient ODE (SoA)") in measured
    names = " ".join(r["name"] for r in rows if r["part"] == "training")
    for algo in ("sac on classic/pendulum", "mpo on classic/pendulum", "sac on mjx/cheetah-run",
                 "pearl on"):
        assert algo in names, algo
    for row in rows:
        if row["part"] != "patient ODE" or "simglucose" not in row["name"]:
            assert row["steps_per_s"] > 0 and row["device"].startswith("cpu"), row
    assert (tmp_path / path.replace(".json", ".md")).exists()


def test_a_spent_budget_skips_and_says_so():
    rows = []
    accelerator.training_rows(accelerator.Budget(0.0), quick=True, emit=rows.append)
    assert rows and all(r["skipped"] == "budget" for r in rows)
    assert [r["name"] for r in rows] == [name for name, _ in accelerator.training_items(True)]
