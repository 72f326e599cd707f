"""launch.train: bad names exit 2 listing the choices, before any work; a tiny run writes its
run directory, resumes with --workdir alone and refuses a rerun with another seed (every bad
input: tests/launch/test_exit_codes.py)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "launch.train", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("flag, expected", [("--algo=nope", "sac"),
                                            ("--env=nope", "classic/pendulum")])
def test_unknown_name_exits_2_and_lists_choices(flag, expected):
    out = _train(flag, "--progress=false")
    assert out.returncode == 2, out.stderr
    assert "Choices:" in out.stderr and expected in out.stderr


def test_bad_config_field_exits_2_naming_it():
    out = _train("--config.batch_size=5000", "--config.replay_capacity=100", "--progress=false")
    assert out.returncode == 2
    assert "batch_size" in out.stderr


def test_tiny_run_writes_run_directory_and_resumes(tmp_path):
    workdir = str(tmp_path / "run")
    tiny = ["--algo=sac", "--env=classic/pendulum", "--steps=400", "--num_envs=2",
            "--config.batch_size=16", "--config.warmup_steps=50", "--config.learning_starts=50",
            "--config.eval_every_steps=200", "--config.num_eval_envs=2",
            "--config.hidden_sizes=8,8", "--config.episode_length=20", "--progress=false"]
    out = _train(*tiny, f"--workdir={workdir}")
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("flags.json", "config.json", "metrics.csv", "learning_curves.png"):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert "eval/return" in out.stdout
    with open(os.path.join(workdir, "flags.json")) as f:
        assert json.load(f)["config_overrides"]["hidden_sizes"] == "8,8"
    # Resuming a finished run restores its last checkpoint and trains no further.
    resumed = _train(f"--workdir={workdir}", "--resume", "--progress=false")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with open(os.path.join(workdir, "metrics.csv")) as f:
        assert len(f.read().strip().splitlines()) == 1 + 2  # header + two evaluations
    # A rerun with another seed is another run: refused before anything is written or
    # compiled, rather than the seed-0 checkpoint restored under the label seed 1.
    with open(os.path.join(workdir, "flags.json")) as f:
        saved = f.read()
    other = _train(*tiny, f"--workdir={workdir}", "--seed=1")
    assert other.returncode == 2 and "Training" not in other.stdout
    assert "--seed: saved=0 now=1" in other.stderr
    with open(os.path.join(workdir, "flags.json")) as f:
        assert f.read() == saved
