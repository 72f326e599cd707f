"""Config fields every training run shares, validated on construction, and the flag-string
overrides (with the migration of renamed fields) that launch scripts and saved runs use."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import ClassVar


def check(condition: bool, field: str, message: str) -> None:
    """Raises a ValueError naming the config field when `condition` is false."""
    if not condition:
        raise ValueError(f"Invalid config field {field!r}: {message}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """The fields every training run has, whatever its algorithm (the driver reads them).

    Attributes:
      total_env_steps: environment steps over all envs (and tasks) before training stops.
      num_envs: environments stepped in parallel (one vmapped batch).
      episode_length: time limit in env steps (None: the env's spec).
      eval_every_steps: env steps (over all envs and tasks) between evaluations, metric rows
        and progress updates. Learners that collect in rounds (PEARL's iterations, the
        model-based collection rounds) evaluate every `iterations_per_eval` rounds: this
        many steps rounded down to whole rounds, at least one.
      checkpoint_every_evals: evaluations between checkpoints (0 disables checkpoints).

    One name per idea across every config: `eval_every_steps` (in env steps), `*_lr` for
    learning rates, `grad_steps_per_iteration` for the gradient steps after one round of
    collection (`grad_steps_per_env_step` is the off-policy ratio). Names an earlier release
    used are migrated (`RENAMED_FIELDS`, `apply_overrides`, `migrate_saved`).
    """

    # Old name -> current name, for flags and saved runs written before a rename.
    RENAMED_FIELDS: ClassVar[dict[str, str]] = {}

    total_env_steps: int = 100_000
    num_envs: int = 1
    episode_length: int | None = None
    eval_every_steps: int = 5_000
    checkpoint_every_evals: int = 1

    def __post_init__(self):
        check(self.total_env_steps > 0, "total_env_steps", "must be > 0")
        check(self.num_envs > 0, "num_envs", f"must be > 0, got {self.num_envs}")
        check(self.episode_length is None or self.episode_length > 0, "episode_length",
              "must be > 0")
        check(self.eval_every_steps > 0, "eval_every_steps", "must be > 0")
        check(self.checkpoint_every_evals >= 0, "checkpoint_every_evals", "must be >= 0")

    def iterations_per_eval(self, env_steps_per_iteration: int) -> int:
        """Collection rounds between evaluations: `eval_every_steps` rounded down to whole
        rounds of `env_steps_per_iteration` steps, at least one."""
        return max(1, self.eval_every_steps // env_steps_per_iteration)

    def eval_every_steps_from_iterations(self, iterations: int) -> int:
        """The `eval_every_steps` of a saved `eval_every_iterations` (the name before
        release 2026-12): learners that collect in rounds override this.

        Raises:
          ValueError: the config does not count in rounds, or a round's length is unknown.
        """
        raise ValueError(f"{type(self).__name__} has no field 'eval_every_iterations'; "
                         "set eval_every_steps (env steps between evaluations)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OffPolicyConfig(RunConfig):
    """The actor/learner loop's settings (see `rlcore.loop`); `RunConfig`'s are inherited.

    Attributes:
      batch_size: transitions per gradient step.
      replay_capacity: transitions the ring buffer holds.
      warmup_steps: initial env steps (over all envs) taken with uniform random actions.
      learning_starts: env steps before the first gradient step (at least batch_size are
        stored by then).
      grad_steps_per_env_step: gradient steps per environment step (the update-to-data
        ratio); one iteration steps all num_envs envs once and takes
        max(1, round(num_envs * grad_steps_per_env_step)) gradient steps.
      num_eval_envs: episodes per evaluation (one per env, deterministic policy).
      normalize_observations: feed networks running-normalised observations.
      select_best_eval: return and export the policy of the evaluation with the highest
        `eval/return` instead of the final one: model selection on the evaluation episodes,
        as Fox et al. (2020) select glucose controllers on validation days. The state that
        is checkpointed and resumed is the final one either way. Single runs only: the
        `--num_seeds` driver reports every seed's final policy.
    """

    batch_size: int = 256
    replay_capacity: int = 1_000_000
    warmup_steps: int = 1_000
    learning_starts: int = 1_000
    grad_steps_per_env_step: float = 1.0
    num_eval_envs: int = 10
    normalize_observations: bool = False
    select_best_eval: bool = False

    def __post_init__(self):
        super().__post_init__()
        check(self.batch_size > 0, "batch_size", "must be > 0")
        check(self.replay_capacity >= self.batch_size, "batch_size",
              f"batch_size {self.batch_size} is larger than replay_capacity "
              f"{self.replay_capacity}")
        check(self.replay_capacity >= self.num_envs, "replay_capacity",
              "must hold at least one step of every env")
        check(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        check(self.learning_starts >= 0, "learning_starts", "must be >= 0")
        check(self.grad_steps_per_env_step > 0 and math.isfinite(self.grad_steps_per_env_step),
              "grad_steps_per_env_step", "must be a positive number")
        check(self.eval_every_steps >= self.num_envs, "eval_every_steps",
              "must be at least num_envs (one iteration)")
        check(self.num_eval_envs > 0, "num_eval_envs", "must be > 0")

    @property
    def grad_steps_per_iteration(self) -> int:
        return max(1, round(self.num_envs * self.grad_steps_per_env_step))

    @property
    def iterations_per_eval(self) -> int:
        """Iterations per chunk; a chunk never exceeds the steps left after prefill (so a short
        `total_env_steps` is not rounded up to a whole `eval_every_steps`)."""
        after_prefill = self.total_env_steps - self.prefill_iterations * self.num_envs
        every = min(self.eval_every_steps, max(after_prefill, self.num_envs))
        return max(1, every // self.num_envs)

    @property
    def prefill_iterations(self) -> int:
        """Collect-only iterations before the first gradient step."""
        return -(-max(self.learning_starts, self.batch_size) // self.num_envs)

    @property
    def num_evals(self) -> int:
        """Chunks of `iterations_per_eval` after prefill; the total counts prefill steps."""
        remaining = self.total_env_steps - self.prefill_iterations * self.num_envs
        return max(1, math.ceil(remaining / (self.iterations_per_eval * self.num_envs)))


def check_learning_rates(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        check(value > 0 and math.isfinite(value), name, f"must be a positive number, got {value}")


def to_dict(config) -> dict:
    """A JSON-friendly dict of a config dataclass (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def diff(saved: dict, current: dict) -> list[str]:
    """Fields whose values differ between two `to_dict` outputs, as readable lines."""
    keys = sorted(set(saved) | set(current))
    return [f"{k}: saved={saved.get(k)!r} now={current.get(k)!r}" for k in keys
            if saved.get(k) != current.get(k)]


def _parse_value(text: str, hint, field: str):
    """Parses a flag string into the type `hint` of a config field."""
    args = typing.get_args(hint)
    if type(None) in args:  # Optional[X]
        if text.strip().lower() == "none":
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return lowered in ("true", "1")
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
        if hint is str:
            return text
        if origin is tuple:
            items = [t for t in text.strip().strip("()[]").split(",") if t.strip()]
            return tuple(_parse_value(t.strip(), args[0], field) for t in items)
    except ValueError as err:
        raise ValueError(
            f"Invalid config field {field!r}: cannot parse {text!r} as {hint}") from err
    raise ValueError(f"Config field {field!r} has a type ({hint}) that flags cannot set.")


LEGACY_EVAL_FIELD = "eval_every_iterations"


def _renamed(config, fields: dict) -> dict:
    """`fields` with old names (the config class's RENAMED_FIELDS) replaced by current ones."""
    renames = getattr(type(config), "RENAMED_FIELDS", {})
    out = {}
    for name, value in fields.items():
        new = renames.get(name, name)
        if new != name and new in fields:
            raise ValueError(f"Config fields {name!r} and {new!r} are the same field "
                             f"({name!r} is its old name): give only {new!r}")
        out[new] = value
    return out


def apply_overrides(config, overrides: dict[str, str]):
    """A copy of `config` with fields set from strings (`{"actor_lr": "1e-3"}`).

    Old field names are migrated: renamed fields (`RENAMED_FIELDS`) take their new name, and
    `eval_every_iterations=k` of a learner that collects in rounds becomes the
    `eval_every_steps` of k rounds (the other overrides applied first).

    Raises:
      ValueError: an unknown field (listing the known ones), an unparsable value, or an old
        field that cannot be migrated (the message says what to set instead).
    """
    overrides = _renamed(config, overrides)
    legacy_eval = overrides.pop(LEGACY_EVAL_FIELD, None)
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    values = {}
    for name, text in overrides.items():
        if name not in names:
            raise ValueError(f"Unknown config field {name!r}. Fields: {', '.join(names)}")
        values[name] = _parse_value(text, hints[name], name)
    config = dataclasses.replace(config, **values)
    if legacy_eval is not None:
        if "eval_every_steps" in values:
            raise ValueError("Config fields 'eval_every_iterations' (the old name) and "
                             "'eval_every_steps' both given: give only eval_every_steps")
        iterations = _parse_value(legacy_eval, int, LEGACY_EVAL_FIELD)
        config = dataclasses.replace(
            config, eval_every_steps=config.eval_every_steps_from_iterations(iterations))
    return config


def migrate_saved(config, saved: dict) -> dict:
    """A saved `to_dict` (a run directory's `config.json`) in today's field names, so a run
    written before a rename resumes; `eval_every_iterations` converts with `config`'s round
    length (a saved run that differs elsewhere still shows up in `diff`)."""
    saved = _renamed(config, saved)
    if LEGACY_EVAL_FIELD in saved:
        iterations = saved.pop(LEGACY_EVAL_FIELD)
        saved["eval_every_steps"] = config.eval_every_steps_from_iterations(int(iterations))
    return saved
