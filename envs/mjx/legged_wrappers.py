"""The on-robot learning set-up of Ha et al. 2020 as wrappers around `mjx/quadruped-walk`.

S. Ha, P. Xu, Z. Tan, S. Levine, J. Tan, "Learning to Walk in the Real World with Minimal
Human Effort", CoRL 2020. The robot learns four tasks at once inside a bounded workspace; a
scheduler picks, at each episode start, the task that brings it back toward the centre, so
no human has to carry it back; actions pass through a low-pass filter for smooth gaits.

    env = make_ha2020_env()        # or envs.make("mjx/quadruped-multitask")

is, innermost first:

  TaskVectorWrapper   task w = (w_forward, w_left, w_yaw) in `State.task`, one of `TASKS`;
                      reward w . (v_forward, v_left, yaw_rate) - ctrl_cost_weight |a|^2,
                      with the torso velocity in its heading frame (m/s, rad/s).
  WorkspaceWrapper    terminates (done = 1) when the torso leaves the square
                      |x - c_x|, |y - c_y| <= half_size_m; `info["workspace_exit"]` is 1.0 at
                      that step (sum it over a rollout to count exits; the metrics of a
                      training run report it as a rate).
  TaskSchedulerWrapper  at reset without an explicit task, picks the task heading toward the
                      workspace centre from the initial pose (see `schedule_task`).
                      It sets `draw_task_per_episode`, so `wrap_for_training(env)` has
                      auto-reset pass no task and the scheduler decides at every episode
                      start; with `period_steps`, again every that many steps
                      (`RandomTaskWrapper` is its ablation: uniform draws, same periods).
  ButterworthActionFilter  first-order low-pass Butterworth filter (bilinear transform at
                      the control rate, cutoff in Hz) on the actions before the robot.

The quadruped's safety cost (pitch/roll bounds) and `info` (roll, pitch, yaw, x, y) pass
through unchanged.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import Env, EnvSpec, register
from envs.mjx.quadruped import QuadrupedWalk, heading_velocity
from envs.wrappers import Wrapper

# (w_forward, w_left, w_yaw): walk forward, walk backward, turn left, turn right.
TASK_NAMES = ("forward", "backward", "turn_left", "turn_right")
TASKS = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]],
                 np.float32)
FORWARD, BACKWARD, TURN_LEFT, TURN_RIGHT = range(4)


def task_weighted_reward(next_obs: jax.Array, action: jax.Array, task: jax.Array,
                         ctrl_cost_weight: float) -> jax.Array:
    """w . (v_forward, v_left, yaw_rate)(next_obs) - ctrl_cost_weight |a|^2 (pure)."""
    return (jnp.dot(heading_velocity(next_obs), task)
            - ctrl_cost_weight * jnp.sum(jnp.square(action)))


def schedule_task(x: jax.Array, y: jax.Array, yaw: jax.Array,
                  center: tuple[float, float] = (0.0, 0.0)) -> jax.Array:
    """Index into `TASKS` of the task that heads toward `center` from pose (x, y, yaw).

    phi = bearing of the centre in the robot's heading frame (rad, left positive). Facing it
    (|phi| <= pi/4): forward; facing away (|phi| >= 3 pi/4): backward; else turn toward it
    (left for phi > 0). At the centre itself phi = 0: forward.
    """
    dx, dy = center[0] - x, center[1] - y
    phi = jnp.arctan2(-jnp.sin(yaw) * dx + jnp.cos(yaw) * dy,
                      jnp.cos(yaw) * dx + jnp.sin(yaw) * dy)
    abs_phi = jnp.abs(phi)
    turn = jnp.where(phi > 0, TURN_LEFT, TURN_RIGHT)
    return jnp.where(abs_phi <= jnp.pi / 4, FORWARD,
                     jnp.where(abs_phi >= 3 * jnp.pi / 4, BACKWARD, turn))


class TaskVectorWrapper(Wrapper):
    """Multi-task reward of Ha et al. 2020: the task vector w lives in `State.task` (3,).

    Args:
      env: a `QuadrupedWalk` (or an env with its observation layout and info).
      ctrl_cost_weight: weight of |a|^2 (a in rad); default the env's own.
    """

    def __init__(self, env: Env, ctrl_cost_weight: float | None = None):
        super().__init__(env)
        if ctrl_cost_weight is None:
            ctrl_cost_weight = getattr(env, "ctrl_cost_weight", 0.0)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self._spec = dataclasses.replace(env.spec, task_size=3)

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def sample_tasks(self, key: jax.Array, num_tasks: int) -> jax.Array:
        """Tasks drawn uniformly from `TASKS`: `(num_tasks, 3)`."""
        return jnp.asarray(TASKS)[jax.random.randint(key, (num_tasks,), 0, len(TASKS))]

    def validate_tasks(self, tasks) -> None:
        tasks = np.asarray(tasks, np.float32).reshape(-1, 3)
        for task in tasks:
            if not np.any(np.all(task == TASKS, axis=1)):
                raise ValueError(f"task {task.tolist()} is not one of {TASKS.tolist()} "
                                 f"({', '.join(TASK_NAMES)}).")

    def reset(self, key, task=None):
        key_task, key_env = jax.random.split(key)
        if task is None:
            task = self.sample_tasks(key_task, 1)[0]
        elif not isinstance(task, jax.core.Tracer):
            self.validate_tasks(task)
        state = self.env.reset(key_env)
        return state.replace(task=jnp.asarray(task, jnp.float32))

    def reward_fn(self, obs, action, next_obs, task):
        del obs
        return task_weighted_reward(next_obs, action, task, self.ctrl_cost_weight)

    def step(self, state, action):
        # The unwrapped env ignores State.task (its own task_size is 0) and keeps it.
        next_state = self.env.step(state, action)
        clean, _ = self.unwrapped.check_action(action)
        clean = jnp.clip(clean, jnp.asarray(self.spec.action_low),
                         jnp.asarray(self.spec.action_high))
        reward = self.reward_fn(state.obs, clean, next_state.obs, state.task)
        return next_state.replace(reward=reward.astype(jnp.float32))


class WorkspaceWrapper(Wrapper):
    """Terminates an episode when the torso leaves a square workspace; flags the exit.

    Args:
      half_size_m: half the side of the square (m).
      center: its centre (x, y) in m.
    """

    def __init__(self, env: Env, half_size_m: float = 1.5,
                 center: tuple[float, float] = (0.0, 0.0)):
        super().__init__(env)
        if half_size_m <= 0:
            raise ValueError(f"half_size_m must be > 0, got {half_size_m}.")
        self.half_size_m = float(half_size_m)
        self.center = (float(center[0]), float(center[1]))

    def outside(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return ((jnp.abs(x - self.center[0]) > self.half_size_m)
                | (jnp.abs(y - self.center[1]) > self.half_size_m))

    def reset(self, key, task=None):
        state = self.env.reset(key, task=task)
        return state.replace(info=dict(state.info, workspace_exit=jnp.zeros((), jnp.float32)))

    def step(self, state, action):
        state = self.env.step(state, action)
        exit_now = self.outside(state.info["x"], state.info["y"]).astype(jnp.float32)
        # An exit is counted once, on the step that leaves (the episode ends there).
        exit_now = exit_now * (1.0 - state.done)
        done = jnp.maximum(state.done, exit_now)
        return state.replace(done=done, info=dict(state.info, workspace_exit=exit_now))


class TaskSchedulerWrapper(Wrapper):
    """Chooses the task heading toward the workspace centre: at episode start and, with
    `period_steps`, again every `period_steps` steps from the pose reached.

    Ha et al. let the robot walk on from where it stopped and re-schedule at every short
    episode; `period_steps` is that re-scheduling inside one of our (long) episodes, so a
    robot fast enough to cross the workspace in one task still gets turned back.
    `info["task_steps"]` counts steps since the last choice (int32).
    """

    draw_task_per_episode = True  # read by `envs.wrappers.wrap_for_training`

    def __init__(self, env: Env, center: tuple[float, float] = (0.0, 0.0),
                 period_steps: int | None = None):
        super().__init__(env)
        self.center = (float(center[0]), float(center[1]))
        if period_steps is not None and int(period_steps) < 1:
            raise ValueError(f"period_steps must be >= 1 or None, got {period_steps}.")
        self.period_steps = None if period_steps is None else int(period_steps)

    def choose(self, state, key: jax.Array) -> jax.Array:
        """The task (3,) for `state`'s pose (`key` unused: the rule is deterministic)."""
        del key
        index = schedule_task(state.info["x"], state.info["y"], state.info["yaw"],
                              self.center)
        return jnp.asarray(TASKS)[index]

    def reset(self, key, task=None):
        # The env gets `key` itself, so the per-episode scheduler's states are unchanged.
        key_task = jax.random.fold_in(key, 0x7a5c)
        if task is not None:
            state = self.env.reset(key, task=task)
        else:
            state = self.env.reset(key, task=jnp.asarray(TASKS[FORWARD]))
            state = state.replace(task=self.choose(state, key_task))
        if self.period_steps is None:
            return state
        info = dict(state.info, task_steps=jnp.zeros((), jnp.int32),
                    task_key=jax.random.key_data(jax.random.fold_in(key_task, 1)))
        return state.replace(info=info)

    def step(self, state, action):
        next_state = self.env.step(state, action)
        if self.period_steps is None:
            return next_state
        task_steps = state.info["task_steps"] + 1
        key_next, key_choose = jax.random.split(
            jax.random.wrap_key_data(state.info["task_key"]))
        switch = task_steps >= self.period_steps
        task = jnp.where(switch, self.choose(next_state, key_choose), next_state.task)
        info = dict(next_state.info, task_steps=jnp.where(switch, 0, task_steps),
                    task_key=jax.random.key_data(key_next))
        return next_state.replace(task=task, info=info)


class RandomTaskWrapper(TaskSchedulerWrapper):
    """The scheduler's ablation: the same task periods, each task drawn uniformly from
    `TASKS` whatever the pose."""

    def choose(self, state, key: jax.Array) -> jax.Array:
        del state
        return jnp.asarray(TASKS)[jax.random.randint(key, (), 0, len(TASKS))]


def butterworth_first_order(cutoff_hz: float, sample_rate_hz: float) -> tuple[float, float,
                                                                                float]:
    """(b0, b1, a1) of the first-order low-pass Butterworth filter, bilinear transform.

    y[n] = b0 x[n] + b1 x[n-1] - a1 y[n-1], as `scipy.signal.butter(1, fc, fs=fs)`.
    """
    nyquist = sample_rate_hz / 2
    if not 0.0 < cutoff_hz < nyquist:
        raise ValueError(f"cutoff_hz must be in (0, {nyquist}) (the Nyquist rate of the "
                         f"control period), got {cutoff_hz}.")
    k = math.tan(math.pi * cutoff_hz / sample_rate_hz)
    return k / (1 + k), k / (1 + k), (k - 1) / (k + 1)


class ButterworthActionFilter(Wrapper):
    """Low-pass filters the actions (first-order Butterworth, cutoff in Hz).

    The filter state (last input and output, both starting at 0: the standing pose) lives in
    `info["filter_in"]`, `info["filter_out"]`. Actions are sanitised before filtering
    (`EnvBase.check_action`: NaN and +-inf entries become 0, finite ones are clipped to the
    ctrlrange) and counted in `info["nan_actions"]`. The wrapped env receives the filtered
    action clipped to the ctrlrange (what it would apply anyway): below a quarter of the
    control rate the filter's output is a convex combination of in-range values, but above
    it overshoots, and the wrapped env would count the overshoot as actions out of range
    that the caller never sent.
    """

    def __init__(self, env: Env, cutoff_hz: float = 4.0):
        super().__init__(env)
        self.cutoff_hz = float(cutoff_hz)
        self.coefficients = butterworth_first_order(cutoff_hz, 1.0 / env.spec.dt)

    def reset(self, key, task=None):
        state = self.env.reset(key, task=task)
        zero = jnp.zeros((self.spec.action_size,), jnp.float32)
        return state.replace(info=dict(state.info, filter_in=zero, filter_out=zero))

    def step(self, state, action):
        action, num_bad = self.unwrapped.check_action(action)
        b0, b1, a1 = self.coefficients
        filtered = (b0 * action + b1 * state.info["filter_in"]
                    - a1 * state.info["filter_out"])
        applied = jnp.clip(filtered, jnp.asarray(self.spec.action_low, jnp.float32),
                           jnp.asarray(self.spec.action_high, jnp.float32))
        next_state = self.env.step(state, applied)
        info = dict(next_state.info, filter_in=action, filter_out=filtered,
                    nan_actions=next_state.info["nan_actions"] + num_bad)
        return next_state.replace(info=info)


def make_ha2020_env(cutoff_hz: float = 4.0, workspace_half_size_m: float = 1.5,
                    init_xy_half_range_m: float = 1.0, episode_length: int = 1000,
                    fall_cost_remaining_steps: bool = True, scheduler: bool = True,
                    task_period_steps: int | None = None, **quadruped_kwargs) -> Env:
    """The quadruped with Ha et al. 2020's tasks, workspace, scheduler and action filter.

    Episodes start at a random position (x, y uniform in +-init_xy_half_range_m) and heading,
    so that the scheduler's choice matters. A fall costs a violation for every step left in
    the episode (`QuadrupedWalk`'s `fall_cost_remaining_steps`): without it, SAC-Lagrangian
    learned to fall within 40 steps rather than pay for tilting. `scheduler=False` leaves
    out the task scheduler (the ablation; the caller then draws the tasks).

    `task_period_steps`: re-choose the task every that many steps from the pose reached
    (Ha et al.'s short episodes, the robot walking on from where it stopped); with
    `scheduler=False` the task is then re-drawn uniformly at the same period
    (`RandomTaskWrapper`), so the ablation differs only in how tasks are chosen.
    """
    env: Env = QuadrupedWalk(name="mjx/quadruped-multitask", random_initial_yaw=True,
                             init_xy_half_range_m=init_xy_half_range_m,
                             episode_length=episode_length,
                             fall_cost_remaining_steps=fall_cost_remaining_steps,
                             **quadruped_kwargs)
    env = TaskVectorWrapper(env)
    env = WorkspaceWrapper(env, half_size_m=workspace_half_size_m)
    if scheduler:
        env = TaskSchedulerWrapper(env, period_steps=task_period_steps)
    elif task_period_steps is not None:
        env = RandomTaskWrapper(env, period_steps=task_period_steps)
    return ButterworthActionFilter(env, cutoff_hz=cutoff_hz)


register("mjx/quadruped-multitask", make_ha2020_env)
