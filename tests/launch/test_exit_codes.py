"""Every bad input to the launch commands exits with code 2 and one line `error: ...` on
stderr, before anything is compiled or written (issue 28); the table is docs/exit_codes.md.

Each row runs in a fresh directory holding the fixtures of `_write_fixtures` (hand-written run
directories), with JAX on 2 CPU devices; "before any work" is checked as no "Training" line
(printed before the driver compiles), one stderr line and nothing written into the directory
(building an env runs a few eager JAX ops; no program is compiled). A fresh interpreter per row
costs 5-15 s of imports, so one helper process imports the heavy modules once and forks a
child per row, which runs the command as `python -m` does (`runpy`, the real argv parsing and
exit code); `test_fresh_process_agrees` runs one row of each command in a plain `python -m`
subprocess too.

    JAXRL_WRITE_DOCS=1 pytest tests/launch/test_exit_codes.py   # rewrites docs/exit_codes.md
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.xla_flags import with_lowered_opt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "exit_codes.md")
COMMANDS = {"train": "launch.train", "evaluate": "launch.evaluate",
            "benchmark": "launch.benchmark"}

# The fixture run directory runs/pendulum was trained (by hand) with these flags and seed 0.
PENDULUM = ("--algo=sac --env=classic/pendulum --steps=400 --num_envs=2 "
            "--config.hidden_sizes=8,8 --workdir=runs/pendulum")
GLUCOSE = "--env=glucose/adult#001"

# (command, arguments, a substring of the one-line message)
ROWS = [
    # names and values
    ("train", "--algo=nope", "unknown --algo='nope'. Choices: "),
    ("train", "--env=nope", "unknown --env='nope'. Choices: "),
    ("train", "--preset=nope", "unknown --preset='nope'. Choices: artificial_pancreas"),
    ("train", "--algo=sac --preset=nope", "unknown --preset='nope'. Choices: "),
    ("train", "--config.nope=1", "algorithms.sac.Config has no field 'nope'. Fields: "),
    ("train", "--config.batch_size=abc", "cannot parse 'abc'"),
    ("train", "--config.batch_size=5000 --config.replay_capacity=100", "batch_size"),
    ("train", "--stepz=10", "Unknown command line flag 'stepz'. Did you mean: steps"),
    ("train", "--steps=abc", "flag --steps=abc: invalid literal for int()"),
    ("train", "--steps=0", "--steps must be >= 1, got 0"),
    ("train", "--steps=-5", "--steps must be >= 1, got -5"),
    ("train", "--eval_days=0", "--eval_days must be >= 1, got 0"),
    # devices (the test's JAX sees 2 CPU devices)
    ("train", "--num_seeds=3 --devices=2", "--num_seeds=3 must be divisible by --devices=2"),
    ("train", "--num_envs=3 --devices=2", "num_envs=3 must be divisible by the number of devices"),
    ("train", "--devices=4", "--devices=4, but JAX sees 2 device(s)"),
    # env arguments
    ("train", "--env_arg=max_speed", "--env_arg needs key=value, got 'max_speed'"),
    ("train", "--env_arg=max_speed=fast", "--env_arg max_speed='fast': classic/pendulum takes "
     "float"),
    ("train", f"{GLUCOSE} --env_arg=foo=1", "unknown --env_arg 'foo' for glucose/adult#001. "
     "Choices: patients, sensor"),
    ("train", f"{GLUCOSE} --env_arg=sensor_noise=maybe", "takes bool"),
    ("train", f"{GLUCOSE} --env_arg=episode_days=20", "episode_days must lie in (0, 10]"),
    ("train", f"{GLUCOSE} --env_arg=sensor=Libre", "Unknown CGM sensor 'Libre'"),
    ("train", f"{GLUCOSE} --seed=1000", "--eval_seed=1000 is a training seed (1000)"),
    ("train", f"{GLUCOSE} --seed=998 --num_seeds=3", "--eval_seed=1000 is a training seed "
     "(998, 999, 1000)"),
    # resuming, and run directories holding another run
    ("train", "--resume", "--resume needs --workdir"),
    ("train", "--resume --workdir=runs/does-not-exist", "runs/does-not-exist/flags.json does "
     "not exist"),
    ("train", "--resume --workdir=runs/broken", "runs/broken/flags.json is not a readable "
     "flags file"),
    ("train", f"{PENDULUM} --seed=1", "runs/pendulum holds another run: --seed: saved=0 now=1"),
    ("train", "--workdir=runs/pendulum --resume --seed=1", "--seed: saved=0 now=1"),
    ("train", "--workdir=runs/pendulum --resume --env=classic/pendulum --env_arg=max_speed=9.0",
     "--env_args: saved={} now={'max_speed': 9.0}"),
    ("train", f"--workdir=runs/pendulum --resume {GLUCOSE}",
     "--env: saved='classic/pendulum' now='glucose/adult#001'"),
    ("train", f"{PENDULUM} --config.actor_lr=1e-3", "config.json differs in actor_lr: "
     "saved=0.0003 now=0.001"),
    ("train", f"{PENDULUM.replace('runs/pendulum', 'runs/config-only')} --seed=1",
     "config.json differs in seeds: saved=[0] now=[1]"),
    # evaluate
    ("evaluate", "", "give --workdir=RUN (a trained agent) or --controller=NAME[,NAME]"),
    ("evaluate", "--controller=pid --days=0", "--days must be >= 1, got 0"),
    ("evaluate", "--controller=pid --days=abc", "flag --days=abc"),
    ("evaluate", "--controller=pid --env=classic/pendulum", "--env='classic/pendulum' is not a "
     "glucose env. Choices: glucose/adolescent#001, "),
    ("evaluate", "--controller=insulin_pen", "unknown --controller='insulin_pen'. Choices: "
     "basal_bolus"),
    ("evaluate", "--controller=pid --sensor=Libre", "unknown --sensor='Libre'. Choices: "),
    ("evaluate", "--controller=pid --si_scale=0", "si_scale must be > 0"),
    ("evaluate", "--controller=pid --scenario=meals/does-not-exist.csv", "no such file"),
    ("evaluate", "--controller=pid --scenario=bad_meals.csv",
     "bad_meals.csv, line 3: could not convert"),
    ("evaluate", "--workdir=runs/does-not-exist", "not a run directory (no flags.json)"),
    ("evaluate", "--workdir=runs/pendulum", "launch.evaluate evaluates runs on glucose envs"),
    ("evaluate", "--workdir=runs/glucose", "has no policy/ yet"),
    ("evaluate", "--workdir=runs/glucose --seed=0", "--seed=0 is a training seed (0)"),
    # benchmark
    ("benchmark", "--suite=nope", "unknown --suite='nope'. Choices: classic"),
    ("benchmark", "--suite=", "unknown --suite=''. Choices: "),
    ("benchmark", "--quick=maybe", "flag --quick=maybe"),
]
# One row of each command also runs in a plain `python -m` subprocess.
FRESH = [("train", f"{PENDULUM} --seed=1"),
         ("evaluate", "--controller=pid --scenario=bad_meals.csv"),
         ("benchmark", "--suite=nope")]


def _write_fixtures(directory: str) -> None:
    """Hand-written run directories (what `launch.train` and the driver would have written),
    and a malformed scenario file."""
    from algorithms import sac
    from driver import runs
    from rlcore.config import apply_overrides

    def write(path, obj):
        path = os.path.join(directory, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj, indent=1))

    overrides = {"total_env_steps": "400", "num_envs": "2", "hidden_sizes": "8,8"}
    flags = {"algo": "sac", "env": "classic/pendulum", "seed": 0, "steps": 400, "num_envs": 2,
             "preset": None, "devices": None, "num_seeds": 1, "eval_seed": 1000, "eval_days": 5,
             "config_overrides": overrides, "env_args": {}}
    config = runs.run_record(apply_overrides(sac.Config(), overrides), "sac", "classic/pendulum",
                             [0])
    write("runs/pendulum/flags.json", flags)
    write("runs/pendulum/config.json", config)
    write("runs/config-only/config.json", config)
    write("runs/glucose/flags.json", dict(flags, env="glucose/adult#001",
                                          env_args={"max_action_u_per_h": 6.0}))
    write("runs/broken/flags.json", "{not json")
    write("bad_meals.csv", "minute,carbs_g\n420,45\nnoon,70\n")


def _snapshot(directory: str) -> dict[str, bytes]:
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def _env() -> dict:
    xla = with_lowered_opt(os.environ.get("XLA_FLAGS", ""))
    return dict(os.environ, XLA_FLAGS=f"{xla} --xla_force_host_platform_device_count=2",
                JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)


def _serve(spec_path: str) -> None:
    """The helper process: imports the heavy modules once, then runs each command of
    `spec_path` (a JSON list of {module, argv, cwd, stdout, stderr}) in a forked child,
    writing the exit codes to `<spec_path>.out`."""
    import runpy
    import signal
    import traceback

    import algorithms
    import benchmarks  # noqa: F401
    import driver  # noqa: F401
    import envs
    from envs.glucose import controllers, scenario, sensor  # noqa: F401

    envs.names()
    algorithms.available()
    with open(spec_path) as f:
        specs = json.load(f)
    codes = []
    for spec in specs:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.alarm(120)  # a row that trains instead of failing is killed
                os.chdir(spec["cwd"])
                for fd, path in ((1, spec["stdout"]), (2, spec["stderr"])):
                    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
                sys.argv = [spec["module"], *spec["argv"]]
                runpy.run_module(spec["module"], run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exit_:
                if isinstance(exit_.code, str):
                    print(exit_.code, file=sys.stderr)
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
            except BaseException:  # noqa: BLE001 - reported as Python reports it, code 1
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    with open(spec_path + ".out", "w") as f:
        json.dump(codes, f)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """(command, arguments) -> {code, stdout, stderr, unchanged}: each row run in its own copy
    of the fixtures; `unchanged` says the command wrote nothing there."""
    base = tmp_path_factory.mktemp("exit_codes")
    specs, before = [], []
    for i, (command, args, _) in enumerate(ROWS):
        cwd = str(base / f"row{i}")
        os.makedirs(cwd)
        _write_fixtures(cwd)
        before.append(_snapshot(cwd))
        specs.append({"module": COMMANDS[command], "argv": args.split(), "cwd": cwd,
                      "stdout": str(base / f"row{i}.out"), "stderr": str(base / f"row{i}.err")})
    spec_path = str(base / "rows.json")
    with open(spec_path, "w") as f:
        json.dump(specs, f)
    done = subprocess.run([sys.executable, "-m", "tests.launch.test_exit_codes", spec_path],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(spec_path + ".out") as f:
        codes = json.load(f)
    out = {}
    for (command, args, _), spec, code, snapshot in zip(ROWS, specs, codes, before):
        with open(spec["stdout"]) as f_out, open(spec["stderr"]) as f_err:
            out[command, args] = {"code": code, "stdout": f_out.read(), "stderr": f_err.read(),
                                  "unchanged": _snapshot(spec["cwd"]) == snapshot}
    return out


@pytest.mark.parametrize("command, args, expected", ROWS,
                         ids=[f"{c} {a}" for c, a, _ in ROWS])
def test_bad_input_exits_2_with_one_line(results, command, args, expected):
    result = results[command, args]
    lines = result["stderr"].splitlines()
    assert result["code"] == 2, result["stderr"][-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result["stderr"][-3000:]
    assert expected in lines[0]
    # Before any work: no training program (the driver compiles after "Training ..."), no
    # evaluation, nothing written (flags.json of a refused rerun is as it was).
    assert "Training" not in result["stdout"] and "Wrote" not in result["stdout"]
    assert result["unchanged"]


@pytest.mark.parametrize("command, args, expected", [r for r in ROWS if r[:2] in FRESH],
                         ids=[f"{c} {a}" for c, a in FRESH])
def test_fresh_process_agrees(results, tmp_path, command, args, expected):
    _write_fixtures(str(tmp_path))
    before = _snapshot(str(tmp_path))
    out = subprocess.run([sys.executable, "-m", COMMANDS[command], *args.split()],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr == results[command, args]["stderr"]
    assert expected in out.stderr and "Training" not in out.stdout
    assert _snapshot(str(tmp_path)) == before


def test_driver_check_run_refuses_another_run(tmp_path):
    """`driver.training.check_run` (what `launch.train` calls before writing flags.json) on
    the fixture run: the same config and seed pass, another seed or env is refused, and
    nothing is written."""
    import envs
    from algorithms import sac
    from driver.training import check_run
    from rlcore.config import apply_overrides

    _write_fixtures(str(tmp_path))
    before = _snapshot(str(tmp_path))
    workdir = str(tmp_path / "runs" / "pendulum")
    config = apply_overrides(sac.Config(), {"total_env_steps": "400", "num_envs": "2",
                                            "hidden_sizes": "8,8"})
    env = envs.make("classic/pendulum")
    check_run("sac", env, config, seed=0, workdir=workdir)
    check_run("sac", env, config, seed=0, workdir=str(tmp_path / "runs" / "new"))
    with pytest.raises(ValueError, match=r"seeds: saved=\[0\] now=\[1\]"):
        check_run("sac", env, config, seed=1, workdir=workdir)
    with pytest.raises(ValueError, match="env: saved='classic/pendulum' now='glucose/adult#001'"):
        check_run("sac", envs.make("glucose/adult#001"), config, workdir=workdir)
    assert _snapshot(str(tmp_path)) == before


def render(results: dict) -> str:
    """docs/exit_codes.md from the observed messages."""
    lines = [
        "# Exit codes of the launch commands",
        "",
        "Generated by `tests/launch/test_exit_codes.py` from the commands' own output "
        "(`JAXRL_WRITE_DOCS=1` rewrites it; the test fails when it is stale).",
        "",
        "A bad input to `python -m launch.train`, `launch.evaluate` or `launch.benchmark` exits "
        "with code 2 and prints one line, `error: ...`, on stderr, naming the flag and, where "
        "there are some, the choices. It does so before anything is compiled or written: a "
        "refused rerun leaves the run directory's `flags.json` as it was.",
        "",
        "A run directory holds one run. `launch.train` in a directory that holds a run (with "
        "or without `--resume`) continues it only with the same algorithm, env, seed, seed "
        "count, env arguments (`flags.json`) and config (`config.json`, which also records the "
        "algorithm, env and seeds); anything else is refused, naming what differs.",
        "",
        "Other exit codes of `launch.train`: 0 when the run finished; 143 when SIGTERM stopped "
        "it and 130 when SIGINT (Ctrl-C) did, in both cases after the current chunk and a "
        "checkpoint at its boundary (`--resume` continues; `tests/driver/test_kill_resume.py`). "
        "A SIGKILL loses at most one checkpoint interval.",
        "",
        "The rows run in a directory holding `runs/pendulum` (a SAC run on classic/pendulum "
        f"with seed 0: `{PENDULUM}`), `runs/config-only` (its config.json alone), "
        "`runs/glucose` (flags.json of a glucose run that has no policy yet), "
        "`runs/broken` (an unreadable flags.json) and `bad_meals.csv` (a scenario with a "
        "malformed line); JAX sees 2 CPU devices.",
        "",
        "| Command | Arguments | Message on stderr | Exit code |",
        "|---|---|---|---|",
    ]

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    for command, args, _ in ROWS:
        result = results[command, args]
        shown = f"`{args}`" if args else "(none)"
        lines.append(f"| `python -m {COMMANDS[command]}` | {cell(shown)} "
                     f"| {cell(result['stderr'].strip())} | {result['code']} |")
    return "\n".join(lines) + "\n"


def test_docs_table_is_current(results):
    text = render(results)
    if os.environ.get("JAXRL_WRITE_DOCS") == "1":
        with open(DOC, "w") as f:
            f.write(text)
    with open(DOC) as f:
        assert f.read() == text, "docs/exit_codes.md is stale: rerun with JAXRL_WRITE_DOCS=1"


if __name__ == "__main__":
    _serve(sys.argv[1])
