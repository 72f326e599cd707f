"""The environment contract: `State`, `EnvSpec`, the `Env` protocol and the registry.

The Brax / MuJoCo Playground convention plus a safety cost:

    env = envs.make("classic/pendulum")
    state = env.reset(key)            # pure, jittable; key is a typed `jax.random.key`
    state = env.step(state, action)   # pure, jittable
    state.obs, state.reward, state.cost, state.done, state.info

`done` means termination; a time limit (see `envs.wrappers.EpisodeWrapper`) sets
`info["truncation"]` as well and learners bootstrap through truncation.

Task families (meta-RL, changing dynamics) keep their task parameters in `State.task`,
sample them with `env.sample_tasks(key, n)` and take them in `env.reset(key, task=...)`,
so one compiled step serves every task. Envs without tasks keep an empty `(0,)` array.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
from flax import struct


def _empty_task() -> jax.Array:
    return jnp.zeros((0,), jnp.float32)


@struct.dataclass
class State:
    """One environment's state. Batched envs carry a leading batch axis on every leaf.

    Attributes:
      env_state: the simulator's own pytree (mjx.Data, patient ODE state, ...).
      obs: observation, float32 `(obs_size,)`.
      reward: float32 scalar.
      cost: float32 scalar constraint signal (0 where the env has none).
      done: float32 scalar, 1.0 on termination (and on truncation, see `info`).
      info: dict of arrays; its keys are fixed by `reset` (jit needs a fixed structure).
      task: task parameters of a task family; an empty `(0,)` array otherwise.
    """

    env_state: Any
    obs: jax.Array
    reward: jax.Array
    cost: jax.Array
    done: jax.Array
    info: dict[str, Any] = struct.field(default_factory=dict)
    task: Any = struct.field(default_factory=_empty_task)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment (hashable: usable as a jit static argument).

    Attributes:
      name: registry name, e.g. "classic/pendulum".
      obs_size: length of the flat observation vector.
      action_size: length of the action vector.
      action_low, action_high: per-dimension bounds of the action (env units).
      dt: control period in the env's time unit (seconds for robots, minutes for patients).
      episode_length: number of control steps before truncation.
      task_size: length of a task vector (0 for envs without tasks).
    """

    name: str
    obs_size: int
    action_size: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    dt: float
    episode_length: int
    task_size: int = 0

    def __post_init__(self):
        if self.obs_size <= 0 or self.action_size <= 0:
            raise ValueError(f"EnvSpec {self.name}: obs_size and action_size must be > 0.")
        if len(self.action_low) != self.action_size or len(self.action_high) != self.action_size:
            raise ValueError(f"EnvSpec {self.name}: action bounds must have length action_size.")
        if any(lo >= hi for lo, hi in zip(self.action_low, self.action_high)):
            raise ValueError(f"EnvSpec {self.name}: every action_low must be < action_high.")
        if self.episode_length <= 0:
            raise ValueError(f"EnvSpec {self.name}: episode_length must be > 0.")


@runtime_checkable
class Env(Protocol):
    """What every environment (and wrapper) provides."""

    spec: EnvSpec

    def reset(self, key: jax.Array, task: Any = None) -> State:
        """A new episode from a typed key (and, for task families, a task vector); pure."""
        ...

    def step(self, state: State, action: jax.Array) -> State:
        """One control step with an action `(action_size,)` in env units; pure."""
        ...


class EnvBase:
    """Helpers shared by concrete environments (not required by the protocol)."""

    spec: EnvSpec

    def sample_tasks(self, key: jax.Array, num_tasks: int) -> jax.Array:
        """Task vectors `(num_tasks, task_size)`; envs without tasks return `(n, 0)`."""
        del key
        return jnp.zeros((num_tasks, 0), jnp.float32)

    def evaluation_trace(self, state: State) -> dict[str, jax.Array]:
        """Per-step values an evaluation keeps for `evaluation_metrics` (none by default).

        Called on the batched eval state after every step; each value has the batch shape.
        """
        del state
        return {}

    def evaluation_metrics(self, trace: dict[str, jax.Array], alive: jax.Array
                           ) -> dict[str, jax.Array]:
        """The env family's own metrics of evaluation episodes (none by default).

        `trace` holds `evaluation_trace` values stacked `(T, B)`, `alive` `(T, B)` is 1.0 on
        the steps before each episode's first `done`. The training driver adds what this
        returns to every evaluation row (the glucose envs: time in range).
        """
        del trace, alive
        return {}

    def check_action(self, action: Any, low: Any = None, high: Any = None
                     ) -> tuple[jax.Array, jax.Array]:
        """Sanitises one action: shape and dtype at trace time, values at run time.

        The one convention every env family inherits (docs/hostile_actions.md):
          * shape: anything but `(action_size,)` raises a ValueError at trace time naming the
            env, the expected and the given shape;
          * dtype: integers and floats of any width are cast to float32; bool, complex and
            non-numeric dtypes raise a ValueError (a mask or a complex number is never a
            command). Floats wider than float32 (only with `jax_enable_x64`) are checked in
            their own precision first, so 1e300 is clipped, not made infinite; without x64,
            JAX has already rounded them to float32 (beyond +-3.4e38: +-inf);
          * a non-finite entry (NaN, +-inf) becomes the safe action: 0 projected onto the
            box [low, high], i.e. 0 for a box around 0 (no torque, hold the standing pose)
            and `low` = 0 for the glucose env (no insulin);
          * a finite entry outside [low, high] is clipped to the box;
          * a subnormal entry (|x| < 1.2e-38 in float32) is 0, whatever XLA's flushing.

        Args:
          action: `(action_size,)`, any real numeric dtype.
          low, high: the box `(action_size,)` (or scalars); default `spec.action_low/high`.
            An env that accepts more than its learners' box passes its own (the glucose
            pump's limit).

        Returns:
          The clean float32 action `(action_size,)`, inside the box, and a float32 scalar:
          the number of entries that were non-finite or outside the box. Concrete envs add
          it to `info["nan_actions"]` (a count since reset, created by `reset`).
        """
        name = self.spec.name
        action = jnp.asarray(action)
        expected = (self.spec.action_size,)
        if action.shape != expected:
            raise ValueError(
                f"{name}: action has shape {action.shape}, expected {expected} "
                "(batched envs take (num_envs, action_size))."
            )
        dtype = action.dtype
        if dtype == jnp.bool_ or not (jnp.issubdtype(dtype, jnp.integer)
                                      or jnp.issubdtype(dtype, jnp.floating)):
            raise ValueError(
                f"{name}: action has dtype {dtype}, expected a real number type (float32; "
                "integers and other float widths are cast to float32).")
        low = jnp.broadcast_to(jnp.asarray(self.spec.action_low if low is None else low,
                                           jnp.float32), expected)
        high = jnp.broadcast_to(jnp.asarray(self.spec.action_high if high is None else high,
                                            jnp.float32), expected)
        # Check in float32, or in the action's own precision where that is wider (x64).
        work = (action.dtype if jnp.issubdtype(action.dtype, jnp.floating)
                and jnp.finfo(action.dtype).bits > 32 else jnp.float32)
        x = action.astype(work)
        # Subnormals are 0: XLA flushes them to zero in some ops (clip) and not in others
        # (comparisons, depending on fusion), so without this a -1e-45 could be counted as
        # below a bound of 0 in one compiled program and not in another. The comparison
        # below holds whether or not XLA flushes `x`.
        x = jnp.where(jnp.abs(x) < jnp.finfo(work).tiny, jnp.zeros_like(x), x)
        low_w, high_w = low.astype(work), high.astype(work)
        finite = jnp.isfinite(x)
        outside = ~finite | (x < low_w) | (x > high_w)
        safe = jnp.clip(jnp.zeros_like(low), low, high)
        clean = jnp.where(finite, jnp.clip(x, low_w, high_w).astype(jnp.float32), safe)
        return clean, outside.sum().astype(jnp.float32)


# ----------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., Env]] = {}
# Modules whose import registers env families. Imported on first use of the registry so that
# `import envs` stays cheap (MJX and the patient tables are only loaded when asked for).
_FAMILY_MODULES = ("envs.classic", "envs.glucose", "envs.mjx")
_loaded = False


def register(name: str, factory: Callable[..., Env]) -> None:
    """Registers `factory(**overrides) -> Env` under `name` (e.g. "mjx/cheetah-run")."""
    if name in _REGISTRY:
        raise ValueError(f"Environment {name!r} is already registered.")
    _REGISTRY[name] = factory


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _FAMILY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            # A family whose module is absent registers nothing; a broken import inside an
            # existing module must still surface.
            if err.name != module:
                raise


def names() -> list[str]:
    """All registered environment names, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def make(name: str, **overrides: Any) -> Env:
    """Builds a registered environment; keyword overrides go to its factory.

    Raises:
      ValueError: for an unknown name, listing the known ones.
    """
    _load_families()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"Unknown environment {name!r}. Known environments: {known}")
    return _REGISTRY[name](**overrides)
