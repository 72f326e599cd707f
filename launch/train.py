"""Train any algorithm on any registered environment.

    python -m launch.train --algo=sac --env=classic/pendulum --steps=30000 --workdir=runs/x
    python -m launch.train --workdir=runs/x --resume          # continue a killed run
    python -m launch.train --algo=sac --config.actor_lr=1e-3 --config.hidden_sizes=64,64
    python -m launch.train --preset=artificial_pancreas --workdir=runs/ap   # see launch/presets
    python -m launch.train --env=glucose/adults --env_arg=max_action_u_per_h=5 \
        --env_arg=sensor=Dexcom

Every field of the algorithm's Config is a `--config.<field>` flag (see `--helpfull`).
A bad input (an unknown algorithm, environment, preset, field or env argument, a bad value, a
run directory holding another run) exits with code 2 and one line `error: ...`, listing the
choices where there are some, before anything is written or compiled (docs/exit_codes.md).
A rerun in a run directory resumes it only with the same algo, env, seed, seed count, env
arguments and config; anything else is refused, naming what differs.

SIGTERM or Ctrl-C (SIGINT) ends the current chunk, saves a checkpoint there and exits with
143 or 130 (128 + the signal) without the final policy or report; `--resume` continues the
run from that checkpoint. A second signal stops at once.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from absl import app, flags, logging

from launch import choices, presets
from launch.presets import usage_error

FLAGS = flags.FLAGS
DEFAULT_ALGO = "sac"
DEFAULT_ENV = "classic/pendulum"

flags.DEFINE_string("algo", DEFAULT_ALGO, "Algorithm: " + choices.algorithms_text() + ".")
flags.DEFINE_string("env", DEFAULT_ENV, "Environment, by family: " + choices.envs_text() + ".")
flags.DEFINE_integer("seed", 0, "Root seed of the run.")
flags.DEFINE_integer("steps", None, "Total env steps (config.total_env_steps).")
flags.DEFINE_integer("num_envs", None, "Parallel training envs (config.num_envs).")
flags.DEFINE_string("workdir", None, "Run directory: flags, metrics, checkpoints, plots.")
flags.DEFINE_bool("resume", False, "Continue the run in --workdir with its saved flags.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_string("preset", None, "A named preset of launch/presets.py (algo, env, config): "
                    + choices.presets_text() + ".")
flags.DEFINE_multi_string("env_arg", [], "Env keyword override key=value (repeatable).")
flags.DEFINE_integer("devices", None, "Split the work across this many devices: the seeds with "
                     "--num_seeds > 1, else (off-policy algorithms) envs, replay and batches.")
flags.DEFINE_integer("num_seeds", 1, "Train seeds seed..seed+N-1 in one compiled program "
                     "(driver.train under jax.vmap); metrics per seed under seed_<s>/.")
flags.DEFINE_integer("eval_seed", 1000, "Glucose envs: seed of the final report's meal days and "
                     "sensor noise, a stream apart from the run's own evaluations (drawn from "
                     "--seed, and the only days select_best_eval selects on).")
flags.DEFINE_integer("eval_days", 5, "Glucose envs: meal days per patient in the final "
                     "evaluation against the baselines (`launch.evaluate --workdir` uses the "
                     "same days and seed unless told otherwise).")

# Everything a run directory can hold (docs/reference.md is generated from this; the CLI test
# checks that a run writes nothing else): path -> (written by, content).
RUN_DIRECTORY = {
    "flags.json": ("launch.train", "the command's flags, the preset's config overrides and the "
                   "env arguments; `--resume` reads them"),
    "config.json": ("driver", "the full algorithm config; resuming with another is refused"),
    "metrics.csv": ("driver", "one row per evaluation: env steps, eval/*, train/* metrics"),
    "tb/": ("driver", "TensorBoard events of the same metrics"),
    "checkpoints/": ("driver", "orbax checkpoints of the whole training state (the last 3), "
                     "every `checkpoint_every_evals` evaluations: what `--resume` restores"),
    "best_policy.json": ("driver", "with `config.select_best_eval`: the evaluation selected"),
    "seed_<s>/": ("driver", "with `--num_seeds` > 1: each seed's metrics.csv and tb/"),
    "policy/": ("launch.train", "the policy parameters at the end (the selected ones with "
                "`select_best_eval`): what `launch.evaluate --workdir` loads"),
    "learning_curves.png": ("launch.train", "eval/return, eval/cost, eval/tir, ... against env "
                            "steps"),
    "evaluation.json": ("glucose report", "clinical metrics per patient and group, settings "
                        "(schema below)"),
    "metrics_<controller>.csv": ("glucose report", "one row per patient, every metric"),
    "traces/<controller>/<patient>.csv": ("glucose report", "every evaluated step: day, minute, "
                                          "BG, CGM, carbs, insulin, reward, cost"),
    "meals.csv": ("glucose report", "the evaluated days' meals, a scenario file: "
                  "`launch.evaluate --scenario=meals.csv` replays them"),
    "agp.png, day_<controller>.png": ("glucose report", "AGP of every controller; one day each"),
    "agp_report/<controller>_<patient>.png": ("glucose report", "the first controller's AGP "
                                              "page per patient, on CGM"),
    "cvga.png": ("glucose report", "control-variability grid, a point per patient"),
    "explain.png": ("glucose report", "LRP relevances of an MLP agent's doses over a day"),
    "robustness/<flag=value_...>/": ("launch.evaluate", "a robustness, sensor or scenario "
                                     "evaluation: the report's files, never over the nominal ones"),
}

_FLAG_NAMES = ("algo", "env", "seed", "steps", "num_envs", "preset", "devices", "num_seeds",
               "eval_seed", "eval_days")
# What makes a run directory's checkpoints one run's, besides the config (the driver's
# config.json): a rerun in the directory with any of these changed is refused.
RUN_IDENTITY = ("algo", "env", "seed", "num_seeds", "env_args")


def _argv_value(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _read_flags(workdir: str) -> dict | None:
    """`<workdir>/flags.json`, None when there is none."""
    import json

    path = os.path.join(workdir, "flags.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as err:
        usage_error(f"{path} is not a readable flags file: {err}")
    if not isinstance(saved, dict):
        usage_error(f"{path} is not a readable flags file: not a JSON object.")
    return saved


def _saved_flags(workdir: str | None) -> dict:
    if workdir is None:
        usage_error("--resume needs --workdir.")
    saved = _read_flags(workdir)
    if saved is None:
        usage_error(f"--resume: {os.path.join(workdir, 'flags.json')} does not exist (no run "
                    "to resume there).")
    return saved


def define_config_flags(argv: list[str]):
    """Resolves --algo before parsing and defines one `--config.<field>` flag per field."""
    import algorithms

    algo = _argv_value(argv, "algo")
    if algo is None and "--resume" in argv:
        algo = _saved_flags(_argv_value(argv, "workdir")).get("algo", DEFAULT_ALGO)
    preset_name = _argv_value(argv, "preset")
    if algo is None and preset_name is not None:
        try:
            algo = presets.get(preset_name).algo
        except ValueError as err:
            usage_error(str(err))
    algo = algo or DEFAULT_ALGO
    if algo not in algorithms.available():
        usage_error(f"unknown --algo={algo!r}. Choices: {', '.join(algorithms.available())}")
    config_cls = algorithms.get(algo).Config
    for field in dataclasses.fields(config_cls):
        default = field.default if field.default is not dataclasses.MISSING else None
        flags.DEFINE_string(f"config.{field.name}", None,
                            f"{config_cls.__name__}.{field.name} (default {default!r}).")
    return config_cls


def family_defaults(algo: str, env_name: str) -> dict[str, str]:
    """The algorithm's config overrides for the env's family (`<algo>.defaults_for_env`, e.g.
    PEARL's per-family settings), `{}` when it has none. A preset's config and --steps /
    --num_envs / --config.<field> win over them; they are recorded in flags.json."""
    import algorithms

    module = algorithms.get(algo)
    return dict(module.defaults_for_env(env_name)) if hasattr(module, "defaults_for_env") else {}


def build_config(config_cls, overrides: dict[str, str], explicit: dict[str, str]):
    """The config: defaults < `overrides` (a preset's, a resumed run's) < --steps/--num_envs
    < the --config.<field> flags given now (`explicit`)."""
    from rlcore.config import apply_overrides

    overrides = dict(overrides)
    if FLAGS.steps is not None:
        overrides["total_env_steps"] = str(FLAGS.steps)
    if FLAGS.num_envs is not None:
        overrides["num_envs"] = str(FLAGS.num_envs)
    overrides.update(explicit)
    return apply_overrides(config_cls(), overrides), overrides


def check_counts() -> None:
    """The count flags: positive, and --devices no more than JAX sees, dividing --num_seeds."""
    for name in ("steps", "num_envs", "num_seeds", "devices", "eval_days"):
        if FLAGS[name].value is not None and FLAGS[name].value < 1:
            usage_error(f"--{name} must be >= 1, got {FLAGS[name].value}.")
    if FLAGS.devices not in (None, 1):
        import jax

        available = jax.devices()
        if FLAGS.devices > len(available):
            usage_error(f"--devices={FLAGS.devices}, but JAX sees {len(available)} device(s) "
                        f"({available[0].platform}); on CPU set XLA_FLAGS="
                        "--xla_force_host_platform_device_count=N before JAX is imported.")
        if FLAGS.num_seeds > 1 and FLAGS.num_seeds % FLAGS.devices:
            usage_error(f"--num_seeds={FLAGS.num_seeds} must be divisible by --devices="
                        f"{FLAGS.devices}: the seeds are split across the devices.")


def check_rerun(workdir: str, record: dict) -> None:
    """Refuses a run directory that holds another run: its flags.json names another algo,
    env, seed, seed count or env arguments (`RUN_IDENTITY`). Called before flags.json is
    written; the config is the driver's check (`driver.training.check_run`)."""
    import json

    saved = _read_flags(workdir)
    if saved is None:
        return
    now = json.loads(json.dumps(record))  # as it would read back (tuples become lists)
    differences = [f"--{name}: saved={saved[name]!r} now={now[name]!r}"
                   for name in RUN_IDENTITY if name in saved and saved[name] != now[name]]
    if differences:
        usage_error(f"{workdir} holds another run: " + "; ".join(differences)
                    + ". Give the same flags to resume it, or another --workdir.")


def train_algo(env, config):
    """`driver.train` with the run's flags: one program for every algorithm, seed count and
    device count."""
    import driver

    return driver.train(FLAGS.algo, env, config, seed=FLAGS.seed, num_seeds=FLAGS.num_seeds,
                        workdir=FLAGS.workdir, progress=FLAGS.progress, devices=FLAGS.devices)


def main(argv, config_cls):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    import envs
    from driver.training import check_run
    from rlcore.checkpoint import save_json
    from rlcore.report import print_eval_table

    explicit = {name[len("config."):]: FLAGS[name].value for name in FLAGS
                if name.startswith("config.") and FLAGS[name].value is not None}
    overrides = {}
    try:
        env_args = presets.parse_env_args(FLAGS.env_arg)
    except ValueError as err:
        usage_error(str(err))
    if FLAGS.resume:
        saved = _saved_flags(FLAGS.workdir)
        for name in _FLAG_NAMES:
            if saved.get(name) is not None and not FLAGS[name].present:
                FLAGS[name].value = saved[name]
        overrides = saved.get("config_overrides", {})
        env_args = {**saved.get("env_args", {}), **env_args}
    elif FLAGS.preset:
        try:
            preset = presets.get(FLAGS.preset)
        except ValueError as err:
            usage_error(str(err))
        if not FLAGS["env"].present:
            FLAGS.env = preset.env
        if not FLAGS["algo"].present:
            FLAGS.algo = preset.algo
        overrides = dict(preset.config)
        env_args = {**preset.env_args, **env_args}
    if FLAGS.env not in envs.names():
        usage_error(f"unknown --env={FLAGS.env!r}. Choices: {', '.join(envs.names())}")
    if not FLAGS.resume:  # a resumed run's saved overrides already hold them
        overrides = {**family_defaults(FLAGS.algo, FLAGS.env), **overrides}
    check_counts()
    if FLAGS.env.startswith("glucose/"):
        from envs.glucose.evaluation import check_report_seed

        try:
            check_report_seed(FLAGS.eval_seed, range(FLAGS.seed, FLAGS.seed + FLAGS.num_seeds))
        except ValueError as err:
            usage_error(str(err))
    try:
        config, overrides = build_config(config_cls, overrides, explicit)
    except (ValueError, TypeError) as err:
        usage_error(f"--config: {err}")
    try:
        env, env_args = presets.make_env(FLAGS.env, env_args)
    except ValueError as err:
        usage_error(str(err))
    record = {**{n: FLAGS[n].value for n in _FLAG_NAMES}, "config_overrides": overrides,
              "env_args": env_args}
    if FLAGS.workdir:
        check_rerun(FLAGS.workdir, record)
    try:  # everything the driver refuses before compiling, with nothing written yet
        check_run(FLAGS.algo, env, config, seed=FLAGS.seed, num_seeds=FLAGS.num_seeds,
                  workdir=FLAGS.workdir, devices=FLAGS.devices)
    except ValueError as err:
        usage_error(str(err))

    if FLAGS.workdir:
        os.makedirs(FLAGS.workdir, exist_ok=True)
        save_json(os.path.join(FLAGS.workdir, "flags.json"), record)
    print(f"Training {FLAGS.algo} on {FLAGS.env} for {config.total_env_steps} env steps "
          f"({config.num_envs} envs), seed {FLAGS.seed}"
          + (f", run directory {FLAGS.workdir}" if FLAGS.workdir else ""))
    from driver.training import TrainingInterrupted

    try:
        result = train_algo(env, config)
    except TrainingInterrupted as stopped:
        print(f"Stopped: {stopped}", file=sys.stderr)
        if FLAGS.workdir and stopped.checkpoint_step is not None:
            print(f"Continue with: python -m launch.train --workdir={FLAGS.workdir} --resume",
                  file=sys.stderr)
        sys.exit(stopped.exit_code)
    print_eval_table(result.metrics, title=f"{FLAGS.algo} on {FLAGS.env}")
    if getattr(result, "selected_env_steps", None) is not None:
        print(f"Policy: the best evaluation's, at {result.selected_env_steps} env steps "
              "(config.select_best_eval), not the final one.")
    if FLAGS.workdir:
        from rlcore.checkpoint import save_policy
        from rlcore.report import plot_learning_curves

        save_policy(FLAGS.workdir, result.params)
        path = plot_learning_curves(result.metrics, FLAGS.workdir)
        print(f"Learning curves: {path}")
    if FLAGS.env.startswith("glucose/") and result.policy is not None and FLAGS.num_seeds == 1:
        from launch import evaluate

        print(f"Report: {FLAGS.eval_days} held-out meal days per patient (--eval_seed="
              f"{FLAGS.eval_seed}), none of them seen in training, its evaluations or "
              "selection.")
        evaluate.report_agent(env, result.policy, result.params, FLAGS.eval_days, FLAGS.eval_seed,
                              FLAGS.workdir, agent_name=FLAGS.algo)
    if FLAGS.env.startswith("glucose/") and FLAGS.algo == "pearl" and FLAGS.num_seeds == 1:
        from benchmarks.studies import pearl_patients as glucose_eval

        glucose_eval.report(env, config, result, FLAGS.eval_days, FLAGS.eval_seed,
                            FLAGS.workdir)


def run():
    config_cls = define_config_flags(sys.argv)
    app.run(lambda argv: main(argv, config_cls),
            flags_parser=lambda argv: presets.parse_flags(argv, config_cls))


if __name__ == "__main__":
    run()
