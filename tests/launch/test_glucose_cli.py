"""The artificial-pancreas path end to end: train a tiny agent on a patient, evaluate the run
directory beside the baselines, and bad inputs exit with code 2 before any work."""

import fnmatch
import json
import os
import re
import subprocess
import sys

import pytest

from tests.xla_flags import with_lowered_opt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(module, *args, timeout=600):
    # The subprocesses' time is XLA compilation of tiny programs, and nothing here is compared
    # bit for bit: the lowered level even in .ci/run's optimised second step.
    env = dict(os.environ, XLA_FLAGS=with_lowered_opt(os.environ.get("XLA_FLAGS", "")))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_evaluate_bad_inputs_exit_2(tmp_path):
    out = _run("launch.evaluate", f"--workdir={tmp_path}")
    assert out.returncode == 2 and "flags.json" in out.stderr
    out = _run("launch.evaluate", "--env=glucose/grown-ups", "--controller=pid")
    assert out.returncode == 2 and "glucose/adults" in out.stderr
    out = _run("launch.evaluate", "--env=glucose/adults", "--controller=insulin_pen")
    assert out.returncode == 2 and "basal_bolus" in out.stderr
    out = _run("launch.train", "--preset=nope")
    assert out.returncode == 2 and "artificial_pancreas" in out.stderr


@pytest.mark.slow  # two subprocesses, ~2 min of glucose compiles: .ci/run's second step
def test_train_tiny_agent_then_evaluate_its_run_directory(tmp_path):
    workdir = str(tmp_path / "ap")
    out = _run("launch.train", "--preset=artificial_pancreas", f"--workdir={workdir}",
               "--steps=1024", "--config.eval_every_steps=512", "--config.warmup_steps=256",
               "--config.learning_starts=256", "--config.hidden_sizes=16,16",
               "--config.num_eval_envs=2", "--eval_days=1", "--progress=false",
               "--env_arg=episode_days=0.25")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "basal_bolus" in out.stdout and "tir" in out.stdout
    for name in ("evaluation.json", "agp.png", "explain.png", "flags.json", "metrics.csv",
                 "cvga.png", "meals.csv", "metrics_sac.csv", "traces/sac/adult#001.csv",
                 "agp_report/sac_adult#001.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 0, name
    # Every file of the run is documented in docs/reference.md (launch.train.RUN_DIRECTORY).
    from launch.train import RUN_DIRECTORY

    documented = {re.sub(r"<[^>]+>", "*", p.split("/")[0] + ("/" if "/" in p else ""))
                  for entry in RUN_DIRECTORY for p in entry.split(", ")}
    for name in os.listdir(workdir):
        name += "/" if os.path.isdir(os.path.join(workdir, name)) else ""
        assert any(fnmatch.fnmatch(name, pattern) for pattern in documented), name
    # launch.evaluate on the run, with no flags, uses the run's days and seed: the final
    # report's numbers to the digit.
    out = _run("launch.evaluate", f"--workdir={workdir}", f"--outdir={tmp_path / 'again'}")
    assert out.returncode == 0, out.stderr[-3000:]
    with open(os.path.join(workdir, "evaluation.json")) as f:
        report = json.load(f)
    with open(tmp_path / "again" / "evaluation.json") as f:
        again = json.load(f)
    assert again["patients"] == report["patients"] and again["groups"] == report["groups"]
    assert again["settings"]["days"] == 1 and again["settings"]["seed"] == 1000
    # A robustness test writes beside, never over, the nominal evaluation.
    out = _run("launch.evaluate", f"--workdir={workdir}", "--controller=basal_only",
               "--si_scale=0.7")
    assert out.returncode == 0, out.stderr[-3000:]
    with open(os.path.join(workdir, "evaluation.json")) as f:
        assert json.load(f) == report
    with open(os.path.join(workdir, "robustness", "si_scale=0.7", "evaluation.json")) as f:
        result = json.load(f)
    summary = result["patients"]["adult#001"]
    assert set(summary) == {"sac", "basal_only"}
    assert 0.0 <= summary["sac"]["tir"] <= 1.0 and summary["sac"]["mean"] > 0
    assert result["groups"]["adults"]["sac"]["tir"] == summary["sac"]["tir"]
    assert result["settings"]["robustness"]["si_scale"] == 0.7


def test_preset_picks_its_algorithm():
    """`--preset=ap_lagrangian` gives Lagrangian SAC's config flags (the preset's algorithm, not
    plain SAC's), and its values reach the config: checked from the flags alone, before any
    training (the training path itself is `test_train_tiny_agent_then_evaluate_...`)."""
    out = _run("launch.train", "--preset=ap_lagrangian", "--helpfull")  # absl exits 1 after
    assert "--config.cost_limit_per_step" in out.stdout, out.stderr[-3000:]
    out = _run("launch.train", "--preset=artificial_pancreas", "--helpfull")
    assert "--config.cost_limit_per_step" not in out.stdout and "--config.actor_lr" in out.stdout
    # A field of the preset's algorithm that plain SAC lacks is accepted, a wrong value refused.
    out = _run("launch.train", "--preset=ap_lagrangian", "--config.cost_limit_per_step=-1")
    assert out.returncode == 2 and "cost_limit_per_step" in out.stderr
