"""`MjxEnv`: the base of every robot simulated with MuJoCo MJX.

A concrete robot provides an MJCF file from `envs/mjx/assets/` and a few pure hooks:

    observe(data, task) -> obs                      what the policy sees (data: MjxState)
    reward_fn(obs, action, next_obs, task) -> r     pure, also used by model-based planners
    cost_fn(obs, action, next_obs, task) -> c       safety cost (0 by default)
    done_fn(next_obs, task) -> d                    termination (0 by default)
    init_qpos_qvel(key, task) -> (qpos, qvel)       initial state distribution
    task_model(task, time_s) -> mjx.Model           task parameters -> model fields

Task families (meta-RL, changing dynamics) keep their parameters in `State.task`, a float32
vector of length `spec.task_size`. `step` rebuilds the `mjx.Model` from the task on every call
(`model.replace(body_mass=..., opt=model.opt.replace(gravity=...))`): under `jax.vmap` only the
task-dependent fields carry a batch axis, so one compiled step serves a batch mixing tasks.

Tasks are checked against the family's range (`task_in_range`) when they are concrete arrays
(`env.reset(key, task=np.array(...))` outside `jit`/`vmap`) and a ValueError names the range;
traced tasks (inside `jit` or `vmap`) cannot be checked and are trusted: draw them with
`env.sample_tasks`, or check them once with `env.validate_tasks(tasks)` before jitting.

Actions (`EnvBase.check_action`, docs/hostile_actions.md): a wrong shape or a bool/complex
dtype fails at trace time naming the env and the expected shape; other dtypes are cast to
float32; NaN and +-inf entries become 0 (zero torque for motors, the standing pose for the
quadruped's position servos: 0 is inside every ctrlrange here) and finite entries are clipped
to the actuators' `ctrlrange`; `info["nan_actions"]` counts both kinds since reset. A
simulation that goes non-finite anyway terminates the episode (`done = 1`) instead of
propagating NaNs.

`State.env_state` is an `MjxState` (qpos, qvel, act, qacc_warmstart, ctrl, time): exactly
what `mjx.step` reads, not a whole `mjx.Data` (`env.full_data(state.env_state)` rebuilds one).
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from jax import lax
from mujoco import mjx

from envs.base import EnvBase, EnvSpec, State

ASSETS_DIR = pathlib.Path(__file__).parent / "assets"


def load_mj_model(xml_file: str) -> mujoco.MjModel:
    """Loads `envs/mjx/assets/<xml_file>` as a `mujoco.MjModel`."""
    path = ASSETS_DIR / xml_file
    if not path.exists():
        raise ValueError(f"No MJCF asset {xml_file!r} in {ASSETS_DIR}.")
    return mujoco.MjModel.from_xml_path(str(path))


@struct.dataclass
class MjxState:
    """`State.env_state` of MJX envs: what `mjx.step` reads from the previous step.

    Every other `mjx.Data` field (kinematics, contacts, constraint rows) is recomputed by
    `mjx.step` from these, so carrying only them is exact, and keeps auto-reset selects and
    scan carries small (a full Data holds (nefc, nv) Jacobians). `full_data` rebuilds a
    Data for inspection. Units: qpos (m, rad), qvel (m/s, rad/s), time (s).
    """

    qpos: jax.Array
    qvel: jax.Array
    act: jax.Array
    qacc_warmstart: jax.Array
    ctrl: jax.Array
    time: jax.Array


def check_split(split: str) -> str:
    """Validates the `split` argument of changing-dynamics families ("train" or "test")."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    return split


def gains_without(model: mjx.Model, disabled: jax.Array, gain0: jax.Array) -> mjx.Model:
    """`model` with the gains of the actuators where `disabled` (nu,) is true set to 0.

    For motors and position servos alike the force is `gain * ctrl (- bias)`; zero gain and
    zero bias give no force at all (a disabled joint, a crippled leg).
    """
    keep = 1.0 - disabled.astype(gain0.dtype)
    gain = gain0.at[:, 0].multiply(keep)
    bias = model.actuator_biasprm * keep[:, None].astype(model.actuator_biasprm.dtype)
    return model.replace(actuator_gainprm=gain, actuator_biasprm=bias)


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


class MjxEnv(EnvBase):
    """Base class for MJX robots (see the module docstring for the hooks).

    Args:
      name: registry name, e.g. "mjx/cheetah-run".
      xml_file: MJCF file name under `envs/mjx/assets/`.
      obs_size: length of `observe(...)`.
      n_frames: physics substeps per control step; `spec.dt = n_frames * opt.timestep` (s).
      episode_length: control steps per episode (the time limit is `EpisodeWrapper`'s job).
      task_size: length of the task vector (0 for envs without a task family).
    """

    def __init__(self, *, name: str, xml_file: str, obs_size: int, n_frames: int,
                 episode_length: int = 1000, task_size: int = 0):
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}.")
        self.mj_model = load_mj_model(xml_file)
        self.mjx_model = mjx.put_model(self.mj_model)
        self.n_frames = int(n_frames)
        # A zeroed Data built once on the host: reset only replaces qpos/qvel, so tracing
        # never calls make_data on a (possibly batched) task model.
        self._data0 = mjx.make_data(self.mj_model)
        # Initial pose: the keyframe named "home" where the MJCF has one, else qpos0.
        home = mujoco.mj_name2id(self.mj_model, mujoco.mjtObj.mjOBJ_KEY, "home")
        qpos_home = self.mj_model.key_qpos[home] if home >= 0 else self.mj_model.qpos0
        self.qpos_home = jnp.asarray(qpos_home, self._data0.qpos.dtype)
        ctrl_range = np.asarray(self.mj_model.actuator_ctrlrange, np.float64)
        self.spec = EnvSpec(
            name=name, obs_size=int(obs_size), action_size=int(self.mj_model.nu),
            action_low=tuple(float(x) for x in ctrl_range[:, 0]),
            action_high=tuple(float(x) for x in ctrl_range[:, 1]),
            dt=float(self.n_frames * self.mj_model.opt.timestep),
            episode_length=int(episode_length), task_size=int(task_size))

    @property
    def dt(self) -> float:
        """Control period in seconds."""
        return self.spec.dt

    # ------------------------------------------------------------------ physics pipeline

    def pipeline_init(self, model: mjx.Model, qpos: jax.Array, qvel: jax.Array) -> MjxState:
        """The state at (qpos, qvel), at rest otherwise, with zero control.

        No `mjx.forward` here: `mjx.step` recomputes every derived quantity from the
        `MjxState` fields first, and `observe` hooks read only qpos/qvel. Auto-reset wrappers
        build a fresh reset state on every step, so a forward pass here would cost
        ~1/n_frames of a step. Use `full_data(state, forward=True)` for derived fields.
        """
        del model
        d0 = self._data0
        return MjxState(qpos=jnp.asarray(qpos, d0.qpos.dtype),
                        qvel=jnp.asarray(qvel, d0.qvel.dtype), act=d0.act,
                        qacc_warmstart=jnp.zeros_like(d0.qacc_warmstart),
                        ctrl=jnp.zeros_like(d0.ctrl), time=jnp.zeros_like(d0.time))

    def full_data(self, state: MjxState, model: mjx.Model | None = None,
                  forward: bool = False) -> mjx.Data:
        """An `mjx.Data` holding `state` (with `mjx.forward` applied if `forward`)."""
        data = self._data0.replace(qpos=state.qpos, qvel=state.qvel, act=state.act,
                                   qacc_warmstart=state.qacc_warmstart, ctrl=state.ctrl,
                                   time=state.time)
        return mjx.forward(model or self.mjx_model, data) if forward else data

    def pipeline_step(self, model: mjx.Model, state: MjxState, ctrl: jax.Array) -> MjxState:
        """Holds `ctrl` for `n_frames` physics steps (a `lax.scan`, one traced mjx.step)."""
        data = self.full_data(state).replace(ctrl=jnp.asarray(ctrl, state.ctrl.dtype))

        def substep(d, _):
            return mjx.step(model, d), None

        data, _ = lax.scan(substep, data, None, length=self.n_frames)
        return MjxState(qpos=data.qpos, qvel=data.qvel, act=data.act,
                        qacc_warmstart=data.qacc_warmstart, ctrl=data.ctrl, time=data.time)

    # ------------------------------------------------------------------ hooks (override)

    def task_model(self, task: jax.Array, time_s: jax.Array) -> mjx.Model:
        """The model for `task` at simulation time `time_s` (default: the nominal model)."""
        del task, time_s
        return self.mjx_model

    def init_qpos_qvel(self, key: jax.Array, task: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Gym's initial-state noise: qpos_home + U(-0.1, 0.1), qvel 0.1 N(0, 1)."""
        del task
        key_pos, key_vel = jax.random.split(key)
        qpos = self.qpos_home + jax.random.uniform(
            key_pos, (self.mj_model.nq,), minval=-0.1, maxval=0.1)
        qvel = 0.1 * jax.random.normal(key_vel, (self.mj_model.nv,))
        return qpos, qvel

    def observe(self, data: MjxState, task: jax.Array) -> jax.Array:
        raise NotImplementedError

    def reward_fn(self, obs: jax.Array, action: jax.Array, next_obs: jax.Array,
                  task: jax.Array) -> jax.Array:
        """The env's reward as a pure function of (obs, action, next obs, task).

        `action` is the action the env applied (non-finite entries zeroed, clipped to the
        ctrl range).
        Works unbatched; vmap it for batches.
        """
        raise NotImplementedError

    def cost_fn(self, obs: jax.Array, action: jax.Array, next_obs: jax.Array,
                task: jax.Array) -> jax.Array:
        del obs, action, next_obs, task
        return jnp.zeros((), jnp.float32)

    def done_fn(self, next_obs: jax.Array, task: jax.Array) -> jax.Array:
        del next_obs, task
        return jnp.zeros((), jnp.float32)

    def step_info(self, data: MjxState, task: jax.Array) -> dict[str, jax.Array]:
        """Extra per-step diagnostics; keys must be the same at reset and step."""
        del data, task
        return {}

    # ------------------------------------------------------------------ tasks

    def sample_task(self, key: jax.Array) -> jax.Array:
        """One task vector `(task_size,)` of this env's distribution (split)."""
        del key
        return jnp.zeros((self.spec.task_size,), jnp.float32)

    def sample_tasks(self, key: jax.Array, num_tasks: int) -> jax.Array:
        """Task vectors `(num_tasks, task_size)`."""
        keys = jax.random.split(key, num_tasks)
        return jax.vmap(self.sample_task)(keys).astype(jnp.float32)

    def task_in_range(self, task: jax.Array) -> jax.Array:
        """Bool scalar: is `task` inside this family's (split's) range? Pure."""
        del task
        return jnp.asarray(True)

    def task_range_doc(self) -> str:
        """Human-readable range, used in the ValueError of `validate_tasks`."""
        return "any"

    def validate_tasks(self, tasks: Any) -> None:
        """Raises ValueError if any concrete task `(..., task_size)` is outside the range."""
        tasks = np.asarray(tasks, np.float32)
        if tasks.shape[-1:] != (self.spec.task_size,):
            raise ValueError(f"{self.spec.name}: task has shape {tasks.shape}, expected "
                             f"(..., {self.spec.task_size}).")
        flat = tasks.reshape(-1, self.spec.task_size)
        ok = np.asarray(jax.vmap(self.task_in_range)(jnp.asarray(flat)))
        if not ok.all():
            bad = flat[int(np.argmin(ok))]
            raise ValueError(f"{self.spec.name}: task {bad.tolist()} is outside the range "
                             f"of this family: {self.task_range_doc()}.")

    # ------------------------------------------------------------------ Env protocol

    def reset(self, key: jax.Array, task: Any = None) -> State:
        """A new episode. `task=None` draws a task from `sample_task` (families only)."""
        key_task, key_init = jax.random.split(key)
        if task is None:
            task = self.sample_task(key_task)
        else:
            if _is_concrete(task):
                self.validate_tasks(task)
            task = jnp.asarray(task, jnp.float32)
            if task.shape != (self.spec.task_size,):
                raise ValueError(f"{self.spec.name}: task has shape {task.shape}, expected "
                                 f"({self.spec.task_size},).")
        task = jnp.asarray(task, jnp.float32)
        model = self.task_model(task, jnp.zeros(()))
        qpos, qvel = self.init_qpos_qvel(key_init, task)
        data = self.pipeline_init(model, qpos, qvel)
        obs = self.observe(data, task).astype(jnp.float32)
        zero = jnp.zeros((), jnp.float32)
        info = {"nan_actions": zero, **self.step_info(data, task)}
        return State(env_state=data, obs=obs, reward=zero, cost=zero, done=zero, info=info,
                     task=task)

    def step(self, state: State, action: jax.Array) -> State:
        # Finite and inside the ctrlrange (spec.action_low/high); num_bad entries were not.
        action, num_bad = self.check_action(action)
        task = state.task
        data = state.env_state
        model = self.task_model(task, data.time)
        next_data = self.pipeline_step(model, data, action)
        next_obs = self.observe(next_data, task).astype(jnp.float32)
        finite = jnp.all(jnp.isfinite(next_data.qpos)) & jnp.all(jnp.isfinite(next_data.qvel))
        # Never propagate a blown-up simulation: keep the last finite state and terminate.
        next_data = jax.tree.map(lambda new, old: jnp.where(finite, new, old), next_data, data)
        next_obs = jnp.where(finite, next_obs, state.obs)
        reward = self.reward_fn(state.obs, action, next_obs, task).astype(jnp.float32)
        cost = self.cost_fn(state.obs, action, next_obs, task).astype(jnp.float32)
        done = jnp.maximum(self.done_fn(next_obs, task).astype(jnp.float32),
                           1.0 - finite.astype(jnp.float32))
        info = dict(state.info, nan_actions=state.info["nan_actions"] + num_bad,
                    **self.step_info(next_data, task))
        return state.replace(env_state=next_data, obs=next_obs, reward=reward, cost=cost,
                             done=done, info=info)
