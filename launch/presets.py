"""Named training presets: an algorithm, an environment, env arguments and config overrides;
and the command-line checks the launch commands share (env arguments, usage errors).

    python -m launch.train --preset=artificial_pancreas --workdir=runs/ap

Flags given on the command line override a preset's values (`--steps`, `--config.x=...`,
`--env_arg=k=v`). The artificial-pancreas presets dose insulin with no meal announcement
(Lee et al., IEEE JBHI 2020: the agent sees CGM, insulin history and insulin on board only).

A bad input to any launch command exits with code 2 and one line `error: ...` on stderr,
before anything is written or compiled (`usage_error`; the table: docs/exit_codes.md).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
import types
import typing
from typing import Any, NamedTuple


class Preset(NamedTuple):
    algo: str
    env: str
    env_args: dict
    config: dict
    description: str


# One adult, no meal announcement, sensor noise on: minutes on a 2-core CPU.
_AP_CONFIG = {
    "total_env_steps": "200000", "num_envs": "16", "batch_size": "256",
    "replay_capacity": "200000", "warmup_steps": "2000", "learning_starts": "2000",
    "grad_steps_per_env_step": "0.25", "eval_every_steps": "20000", "num_eval_envs": "8",
    "hidden_sizes": "128,128", "checkpoint_every_evals": "1",
}
# The presets report the final policy: `--config.select_best_eval=true` keeps the best
# training evaluation's instead (selection on the run's own evaluation days, a stream apart
# from the report's held-out days, `launch.train --eval_seed`).
_AP_ENV = {"max_action_u_per_h": 6.0}
# PEARL over a cohort: each collection phase runs 4 envs x one whole day (288 steps) per task;
# 0.25 gradient steps (4 tasks x 64 transitions) per env step, as _AP_CONFIG's 256 x 0.25.
_AP_PEARL_CONFIG = {
    "num_train_tasks": "7", "num_test_tasks": "3", "total_env_steps": "400000",
    "num_envs": "4", "num_initial_steps": "1152", "num_tasks_sample": "4",
    "num_steps_prior": "1152", "num_extra_rl_steps_posterior": "1152",
    "grad_steps_per_iteration": "2304", "meta_batch": "4", "batch_size": "64",
    "context_size": "100", "hidden_sizes": "128,128", "encoder_hidden_sizes": "64,64",
    "rl_buffer_capacity": "60000", "num_eval_episodes": "3",
    "eval_every_steps": "36864",  # 4 iterations of 4 tasks x (1152 + 1152) steps
    "checkpoint_every_evals": "3",
}

PRESETS: dict[str, Preset] = {
    "artificial_pancreas": Preset(
        "sac", "glucose/adult#001", _AP_ENV, _AP_CONFIG,
        "SAC doses insulin for adult#001 with no meal announcement (the README's main job)."),
    "ap_adults": Preset(
        "sac", "glucose/adults", _AP_ENV, {**_AP_CONFIG, "total_env_steps": "400000"},
        "One SAC agent for the 10 adults (a patient drawn per episode)."),
    "ap_adolescents": Preset(
        "sac", "glucose/adolescents", _AP_ENV, {**_AP_CONFIG, "total_env_steps": "400000"},
        "One SAC agent for the 10 adolescents."),
    "ap_children": Preset(
        "sac", "glucose/children", {"max_action_u_per_h": 3.0},
        {**_AP_CONFIG, "total_env_steps": "400000"}, "One SAC agent for the 10 children."),
    "ap_population": Preset(
        "sac", "glucose/all", _AP_ENV, {**_AP_CONFIG, "total_env_steps": "600000"},
        "One population-wide SAC agent across all 30 patients."),
    "ap_lagrangian": Preset(
        "sac_lagrangian", "glucose/adults", _AP_ENV,
        {**_AP_CONFIG, "cost_limit_per_step": "0.01"},
        "Lagrangian SAC for the 10 adults with the hypoglycaemia constraint: at most 1% of "
        "steps below 70 mg/dL (the multiplier follows the recent cost rate of collection)."),
    "ap_tir_constrained": Preset(
        "sac_lagrangian", "glucose/adult#001", {**_AP_ENV, "reward": "tir"},
        {**_AP_CONFIG, "cost_limit_per_step": "0.02", "lambda_lr": "1e-3"},
        "Lagrangian SAC for adult#001 with no meal announcement: maximise time in range "
        "(reward 1 inside 70-180 mg/dL) subject to at most 2% of steps below 70 mg/dL. "
        "10 of 11 runs end at 91-97% TIR; one collapsed when the multiplier peaked "
        "(benchmarks/artificial_pancreas.md)."),
    "ap_pearl": Preset(
        "pearl", "glucose/adults", _AP_ENV, _AP_PEARL_CONFIG,
        "PEARL over the adults: the patient is the task; 7 train, 3 held-out patients (the "
        "split follows --seed), reported with z from the prior vs the posterior."),
    "pendulum": Preset("sac", "classic/pendulum", {}, {}, "SAC on the pendulum smoke test."),
}


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown --preset={name!r}. Choices: {', '.join(PRESETS)}")
    return PRESETS[name]


def parse_env_args(items: list[str]) -> dict:
    """`["k=v", ...]` -> `{k: value}`; values are Python literals where they parse, else strings.

    Raises:
      ValueError: an item without `=` or without a key.
    """
    out = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--env_arg needs key=value, got {item!r}.")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        out[key.strip()] = value
    return out


def usage_error(message: str) -> typing.NoReturn:
    """Exits with code 2 and `error: <message>` on one line of stderr: a bad input."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr)
    sys.exit(2)


def parse_flags(argv: list[str], config_cls: type | None = None) -> list[str]:
    """absl's flag parsing (`app.run(..., flags_parser=)`) with an unknown flag or a bad flag
    value as a usage error (absl's own exits with code 1 and a multi-line message). An unknown
    `--config.<field>` lists the fields of `config_cls`."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.UnrecognizedFlagError as err:
        if config_cls is not None and err.flagname.startswith("config."):
            fields = ", ".join(f.name for f in dataclasses.fields(config_cls))
            owner = f"{config_cls.__module__.rsplit('.', 1)[0]}.{config_cls.__name__}"
            usage_error(f"unknown flag --{err.flagname}: {owner} has no field "
                        f"{err.flagname[len('config.'):]!r}. Fields: {fields}")
        usage_error(f"{err} (see --helpfull).")
    except flags.Error as err:
        usage_error(str(err))


def env_arg_types(env) -> dict[str, Any] | None:
    """The keyword arguments an env takes, with their types: the fields of its config
    dataclass (`env.config`, e.g. GlucoseConfig), else its constructor's parameters; None
    when they cannot be read (a constructor taking **kwargs)."""
    config = getattr(env, "config", None)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        hints = typing.get_type_hints(type(config))
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(config)}
    try:
        parameters = list(inspect.signature(type(env).__init__).parameters.values())[1:]
        hints = typing.get_type_hints(type(env).__init__)
    except (TypeError, ValueError, NameError):
        return None
    if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in parameters):
        return None
    return {p.name: hints.get(p.name, Any) for p in parameters}


def _fits(value, hint) -> bool:
    """Whether a literal from the command line fits a field's type (classes other than the
    builtins, e.g. a Scenario also given as a path, are left to the env to check)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    return True


def _type_name(hint) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)


def make_env(env_name: str, env_args: dict):
    """`(envs.make(env_name, **env_args), env_args)`, the bool fields' `true`/`false` read as
    booleans.

    Raises:
      ValueError: an argument the env does not take (listing the ones it takes), a value of
        the wrong type, or one the env refuses; each message names the argument.
    """
    import envs

    if not env_args:
        return envs.make(env_name), env_args
    fields = env_arg_types(envs.make(env_name)) or {}
    env_args = dict(env_args)
    for key, value in env_args.items():
        if key not in fields:
            continue
        hint = fields[key]
        if hint is bool and isinstance(value, str) and value.lower() in ("true", "false"):
            env_args[key] = value = value.lower() == "true"
        if not _fits(value, hint):
            raise ValueError(f"--env_arg {key}={value!r}: {env_name} takes {_type_name(hint)} "
                             f"for {key}.")
    try:
        return envs.make(env_name, **env_args), env_args
    except TypeError as err:
        unknown = [k for k in env_args if k not in fields]
        if unknown and fields:
            raise ValueError(f"unknown --env_arg {unknown[0]!r} for {env_name}. Choices: "
                             + ", ".join(fields)) from None
        raise ValueError(f"--env_arg for {env_name}: {err}") from None
    except (ValueError, OSError) as err:
        raise ValueError(f"{env_name}: {err}") from None
