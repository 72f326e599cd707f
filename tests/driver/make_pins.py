"""Writes the golden metrics rows `tests/driver/pins.json` that `test_pins.py` compares against.

    PYTHONPATH=. python tests/driver/make_pins.py        # the five algorithms: pins.json
    PYTHONPATH=. python tests/driver/make_pins.py --cli  # and launch.train --num_seeds /
                                                         # --devices: pins_cli.json

A short fixed-seed run of SAC, MPO, Lagrangian SAC (on the toy constrained env, keeping the best
evaluation's policy), PEARL (toy point-goal family) and GrBAL (toy linear-gain family), each
through `driver.train` (before the one-driver refactor: each algorithm's own `train`); with
`--cli`, `launch.train` with `--num_seeds=2` and with `--devices=2` (two host devices). Rows
keep every metric but the timing ones; the final
policy parameters are pinned by a SHA-256 of their bytes. Only public entry points are used,
so this script runs on the code before and after a refactor of the driver: generate the
goldens on the old code, then check the new code reproduces them bit for bit.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TIMING = ("train/env_steps_per_s", "train/grad_steps_per_s", "train/compile_s")
PINS = os.path.join(HERE, "pins.json")
CLI_PINS = os.path.join(HERE, "pins_cli.json")

OFF_POLICY = dict(num_envs=2, batch_size=16, replay_capacity=256, warmup_steps=32,
                  learning_starts=32, eval_every_steps=64, num_eval_envs=2, hidden_sizes=(8,),
                  grad_steps_per_env_step=0.5, checkpoint_every_evals=0, episode_length=20)


def _rows(metrics):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in metrics]


def params_digest(params) -> str:
    import jax
    import numpy as np

    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return digest.hexdigest()


def run(name: str) -> dict:
    """One pinned run: its rows (timing left out), params digest and selected step."""
    sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "algorithms")]
    import driver
    import envs
    from algorithms import grbal, mpo, pearl, sac, sac_lagrangian

    if name == "sac":
        env, algo = envs.make("classic/pendulum"), sac
        config = sac.Config(total_env_steps=224, **OFF_POLICY)
    elif name == "mpo":
        env, algo = envs.make("classic/pendulum"), mpo
        config = mpo.Config(total_env_steps=224, num_samples=4, **OFF_POLICY)
    elif name == "sac_lagrangian":
        from constrained_speed_env import ConstrainedSpeed

        env, algo = ConstrainedSpeed(episode_length=20), sac_lagrangian
        config = sac_lagrangian.Config(total_env_steps=288, cost_limit_per_step=0.25,
                                       select_best_eval=True, **OFF_POLICY)
    elif name == "pearl":
        from pearl_toy_env import PointGoal

        env, algo = PointGoal(), pearl
        config = pearl.Config(
            num_train_tasks=3, num_test_tasks=2, hidden_sizes=(8,), encoder_hidden_sizes=(8,),
            context_size=4, batch_size=8, meta_batch=2, num_initial_steps=20,
            num_tasks_sample=2, num_steps_prior=10, num_steps_posterior=10,
            num_extra_rl_steps_posterior=10, grad_steps_per_iteration=4,
            rl_buffer_capacity=64, num_eval_episodes=2, eval_every_steps=2 * 60,
            total_env_steps=60 + 4 * 60, checkpoint_every_evals=0)
    elif name == "grbal":
        from linear_gain_env import LinearGainFamily

        env, algo = LinearGainFamily(episode_length=20), grbal
        config = grbal.Config(M=4, K=4, horizon=3, candidates=16, hidden_sizes=(8,),
                              batch_size=8, grad_steps_per_iteration=5, num_envs=2,
                              num_eval_envs=2, total_env_steps=3 * 2 * 20,
                              eval_every_steps=2 * 2 * 20, checkpoint_every_evals=0)
    else:
        raise ValueError(name)
    result = driver.train(algo, env, config, seed=3, progress=False)
    return {"rows": _rows(result.metrics), "params_sha256": params_digest(result.params),
            "selected_env_steps": getattr(result, "selected_env_steps", None)}


ALGOS = ("sac", "mpo", "sac_lagrangian", "pearl", "grbal")

CLI_FLAGS = ["--algo=sac", "--env=classic/pendulum", "--seed=5", "--steps=192",
             "--num_envs=4", "--progress=false", "--config.batch_size=16",
             "--config.replay_capacity=256", "--config.warmup_steps=32",
             "--config.learning_starts=32", "--config.eval_every_steps=64",
             "--config.num_eval_envs=2", "--config.hidden_sizes=8",
             "--config.grad_steps_per_env_step=0.25", "--config.checkpoint_every_evals=0",
             "--config.episode_length=20"]
# Both flags in one run (two seeds split over two host devices). The pins once also held a
# seeds-only and a devices-only run; each cost CI about 80 s of a launch.train process, and
# the default suite covers those two paths (tests/driver/test_seeds.py, test_sharding.py).
CLI_RUNS = {"num_seeds_devices": ["--num_seeds=2", "--devices=2"]}


def _read_csv(path):
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def run_cli(name: str) -> dict:
    """`launch.train` with two seeds and/or two host devices: every metrics.csv's rows."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.run([sys.executable, "-m", "launch.train", *CLI_FLAGS,
                               *CLI_RUNS[name], f"--workdir={workdir}"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        out = {}
        for path in sorted(glob.glob(os.path.join(workdir, "**", "metrics.csv"),
                                     recursive=True)):
            out[os.path.relpath(path, workdir)] = _rows(_read_csv(path))
    return out


def main(argv):
    if len(argv) > 1 and argv[1] == "--one":  # a fresh interpreter per run
        print("PIN" + json.dumps(run(argv[2])))
        return
    cli = "--cli" in argv
    pins = {}
    for name in ALGOS:
        proc = subprocess.run([sys.executable, __file__, "--one", name], cwd=ROOT,
                              capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, PYTHONPATH=ROOT))
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: {proc.stderr[-3000:]}")
        (line,) = [x for x in proc.stdout.splitlines() if x.startswith("PIN")]
        pins[name] = json.loads(line[3:])
        print(f"{name}: {len(pins[name]['rows'])} rows")
    with open(PINS, "w") as f:
        json.dump(pins, f, indent=1, sort_keys=True)
    if cli:
        cli_pins = {name: run_cli(name) for name in CLI_RUNS}
        with open(CLI_PINS, "w") as f:
            json.dump(cli_pins, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv)
