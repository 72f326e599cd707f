"""Ha et al. 2020 wrappers on a kinematic stand-in for the quadruped (no MJX compile):
task-weighted reward, workspace exits, the scheduler, the Butterworth filter vs scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

import envs
from envs.base import EnvBase, EnvSpec, State
from envs.mjx import legged_wrappers as lw
from envs.mjx import quadruped


class KinematicQuadruped(EnvBase):
    """x, y, yaw integrated from the action: a[0:2] world velocity (m/s), a[2] yaw rate.

    Observation in the quadruped's layout; info as the quadruped's (x, y, yaw, roll, pitch).
    `info["applied"]` records the action the env received (for the filter test).
    """

    ctrl_cost_weight = 0.0

    def __init__(self, pose=(0.0, 0.0, 0.0), dt=0.1):
        self.pose = jnp.asarray(pose, jnp.float32)
        self.spec = EnvSpec(name="stub/quadruped", obs_size=quadruped.OBS_SIZE, action_size=8,
                            action_low=(-1.0,) * 8, action_high=(1.0,) * 8, dt=dt,
                            episode_length=100)

    def _obs(self, pose, action):
        obs = jnp.zeros((quadruped.OBS_SIZE,))
        obs = obs.at[quadruped.OBS_COS_YAW].set(jnp.cos(pose[2]))
        obs = obs.at[quadruped.OBS_SIN_YAW].set(jnp.sin(pose[2]))
        obs = obs.at[quadruped.OBS_LIN_VEL.start].set(action[0])
        obs = obs.at[quadruped.OBS_LIN_VEL.start + 1].set(action[1])
        return obs.at[quadruped.OBS_ANG_VEL.start + 2].set(action[2])

    def _info(self, pose, action, nan_actions):
        return {"x": pose[0], "y": pose[1], "yaw": pose[2], "nan_actions": nan_actions,
                "applied": action}

    def reset(self, key, task=None):
        del key, task
        zero = jnp.zeros((), jnp.float32)
        action = jnp.zeros((8,))
        return State(env_state=self.pose, obs=self._obs(self.pose, action), reward=zero,
                     cost=zero, done=zero, info=self._info(self.pose, action, zero))

    def step(self, state, action):
        action, had_nan = self.check_action(action)
        pose = state.env_state + self.spec.dt * action[:3]
        info = self._info(pose, action, state.info["nan_actions"] + had_nan)
        return state.replace(env_state=pose, obs=self._obs(pose, action), info=info)


def test_task_weighted_reward_by_hand():
    env = lw.TaskVectorWrapper(KinematicQuadruped(pose=(0.0, 0.0, np.pi / 2)))
    assert env.spec.task_size == 3
    # Facing +y, moving +y at 0.5 m/s (forward in the heading frame), yaw rate 0.3 rad/s.
    action = jnp.zeros((8,)).at[1].set(0.5).at[2].set(0.3)
    v_forward = 0.5 * np.sin(np.pi / 2 + 0.1 * 0.3)  # heading after the step's turn
    expected = {"forward": v_forward, "backward": -v_forward, "turn_left": 0.3,
                "turn_right": -0.3}
    for name, task in zip(lw.TASK_NAMES, lw.TASKS):
        state = env.reset(jax.random.key(0), task=task)
        state = env.step(state, action)
        np.testing.assert_allclose(state.reward, expected[name], atol=1e-6)
        np.testing.assert_allclose(state.task, task)
    with pytest.raises(ValueError, match="not one of"):
        env.reset(jax.random.key(1), task=np.array([1.0, 1.0, 0.0], np.float32))


def test_workspace_exit_terminates_and_is_counted_once():
    env = lw.WorkspaceWrapper(lw.TaskVectorWrapper(KinematicQuadruped(pose=(1.35, 0.0, 0.0))),
                              half_size_m=1.5)
    state = env.reset(jax.random.key(0), task=lw.TASKS[lw.FORWARD])
    action = jnp.zeros((8,)).at[0].set(1.0)  # +x at 1 m/s, 0.1 m per step
    exits, dones = [], []
    for _ in range(3):
        state = env.step(state, action)
        exits.append(float(state.info["workspace_exit"]))
        dones.append(float(state.done))
    # x: 1.45 (inside), 1.55 (outside: exit, done), 1.65 (still outside: no new exit).
    assert exits == [0.0, 1.0, 0.0]
    assert dones == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("pose, expected", [
    ((1.0, 0.0, 0.0), "backward"),        # centre behind
    ((1.0, 0.0, np.pi), "forward"),       # facing the centre
    ((0.0, 1.0, 0.0), "turn_right"),      # centre on the right (-y)
    ((0.0, -1.0, 0.0), "turn_left"),      # centre on the left (+y)
    ((-1.0, -1.0, np.pi / 4), "forward"),
    ((0.0, 0.0, 1.0), "forward"),         # at the centre
])
def test_scheduler_heads_toward_centre(pose, expected):
    index = int(lw.schedule_task(*[jnp.float32(p) for p in pose]))
    assert lw.TASK_NAMES[index] == expected
    env = lw.TaskSchedulerWrapper(lw.TaskVectorWrapper(KinematicQuadruped(pose=pose)))
    state = env.reset(jax.random.key(0))
    np.testing.assert_array_equal(state.task, lw.TASKS[lw.TASK_NAMES.index(expected)])
    # An explicit task is honoured.
    state = env.reset(jax.random.key(1), task=lw.TASKS[lw.TURN_LEFT])
    np.testing.assert_array_equal(state.task, lw.TASKS[lw.TURN_LEFT])


def test_butterworth_filter_matches_scipy():
    dt, cutoff = 0.02, 3.0
    b, a = scipy.signal.butter(1, cutoff, fs=1.0 / dt)
    b0, b1, a1 = lw.butterworth_first_order(cutoff, 1.0 / dt)
    np.testing.assert_allclose([b0, b1], b, rtol=1e-10)
    np.testing.assert_allclose([1.0, a1], a, rtol=1e-10)
    env = lw.ButterworthActionFilter(KinematicQuadruped(dt=dt), cutoff_hz=cutoff)
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-1, 1, size=(30, 8)).astype(np.float32)
    inputs[5, 3] = np.nan
    clean = np.nan_to_num(inputs, nan=0.0)
    expected = scipy.signal.lfilter(b, a, clean, axis=0)
    state = env.reset(jax.random.key(0))
    applied = []
    for u in inputs:
        state = env.step(state, jnp.asarray(u))
        applied.append(np.asarray(state.info["applied"]))
    np.testing.assert_allclose(np.stack(applied), expected, atol=1e-5)
    assert float(state.info["nan_actions"]) == 1.0
    with pytest.raises(ValueError, match="cutoff_hz"):
        lw.ButterworthActionFilter(KinematicQuadruped(dt=dt), cutoff_hz=30.0)  # > Nyquist


def test_registered_multitask_quadruped_traces():
    """The full stack on the real quadruped: traced (not compiled) reset and step."""
    env = envs.make("mjx/quadruped-multitask")
    state = jax.eval_shape(env.reset, jax.random.key(0))
    assert state.task.shape == (3,)
    assert {"workspace_exit", "filter_in", "pitch", "roll", "nan_actions"} <= set(state.info)
    next_state = jax.eval_shape(env.step, state, jnp.zeros((8,)))
    assert next_state.obs.shape == (quadruped.OBS_SIZE,)
    with pytest.raises(ValueError, match=r"expected \(8,\)"):
        jax.eval_shape(env.step, state, jnp.zeros((7,)))


def test_a_fall_costs_every_remaining_step():
    """With `fall_cost_remaining_steps`, a fall at step 10 of 1000 costs 991 (this step and
    the 990 left); an upright robot's step costs its usual 0 or 1."""
    env = quadruped.QuadrupedWalk(episode_length=1000, fall_cost_remaining_steps=True)
    state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 2))
    upside = quadruped.rpy_to_quat(jnp.pi / 2, 0.0, 0.0)  # rolled onto its side: fallen
    qpos = state.env_state.qpos.at[0, 3:7].set(upside)
    time = jnp.full_like(state.env_state.time, 9 * env.spec.dt)  # 9 steps already taken
    state = state.replace(env_state=state.env_state.replace(qpos=qpos, time=time))
    next_state = jax.jit(jax.vmap(env.step))(state, jnp.zeros((2, 8)))
    np.testing.assert_array_equal(np.asarray(next_state.done), [1.0, 0.0])
    assert float(next_state.cost[0]) == 991.0
    assert float(next_state.cost[1]) in (0.0, 1.0)
    # Where a fall does not end the episode, the tilted robot keeps paying per step instead.
    assert not quadruped.QuadrupedWalk(terminate_when_fallen=False).fall_cost_remaining_steps


def test_periodic_scheduler_turns_back_at_each_period():
    """Walking +x through the centre: the scheduler re-chooses every 5 steps from the pose
    reached (forward while the centre is ahead, backward once it is behind)."""
    env = lw.TaskSchedulerWrapper(
        lw.TaskVectorWrapper(KinematicQuadruped(pose=(-0.55, 0.0, 0.0), dt=0.1)),
        period_steps=5)
    state = env.reset(jax.random.key(0))
    np.testing.assert_array_equal(state.task, lw.TASKS[lw.FORWARD])
    action = jnp.zeros((8,)).at[0].set(1.0)  # +x at 1 m/s: 0.1 m per step
    tasks = []
    for _ in range(12):
        state = env.step(state, action)
        tasks.append(lw.TASK_NAMES[int(np.argmax(np.all(lw.TASKS == np.asarray(state.task),
                                                         axis=1)))])
    # x after step 5: -0.05 (centre ahead: forward); after step 10: +0.45 (behind: backward).
    assert tasks == ["forward"] * 9 + ["backward"] * 3
    assert int(state.info["task_steps"]) == 2
    # Without a period the task chosen at reset is kept.
    env = lw.TaskSchedulerWrapper(
        lw.TaskVectorWrapper(KinematicQuadruped(pose=(-0.55, 0.0, 0.0), dt=0.1)))
    state = env.reset(jax.random.key(0))
    for _ in range(12):
        state = env.step(state, action)
    np.testing.assert_array_equal(state.task, lw.TASKS[lw.FORWARD])
    assert "task_steps" not in state.info
    with pytest.raises(ValueError, match="period_steps"):
        lw.TaskSchedulerWrapper(lw.TaskVectorWrapper(KinematicQuadruped()), period_steps=0)


def test_random_task_ablation_redraws_uniformly_each_period():
    env = lw.RandomTaskWrapper(lw.TaskVectorWrapper(KinematicQuadruped()), period_steps=3)
    step = jax.jit(jax.vmap(env.step))
    state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 2000))
    counts = np.zeros(len(lw.TASKS))
    action = jnp.zeros((2000, 8))
    previous = np.asarray(state.task)
    changed_off_period = 0.0
    for t in range(1, 10):
        state = step(state, action)
        task = np.asarray(state.task)
        index = np.argmax(np.all(task[:, None, :] == lw.TASKS[None], axis=2), axis=1)
        if t % 3 == 0:
            counts += np.bincount(index, minlength=len(lw.TASKS))
        else:
            changed_off_period += np.any(task != previous, axis=1).sum()
        previous = task
    assert changed_off_period == 0
    # 6000 uniform draws: each task's share is 0.25 +- 4 standard errors (0.0056).
    np.testing.assert_allclose(counts / counts.sum(), 0.25, atol=0.023)
    # The draws differ between envs and between periods (fresh keys each period).
    assert len(np.unique(index)) == 4


def test_make_ha2020_env_task_period():
    env = lw.make_ha2020_env(task_period_steps=50)
    assert isinstance(env.env, lw.TaskSchedulerWrapper) and env.env.period_steps == 50
    ablation = lw.make_ha2020_env(scheduler=False, task_period_steps=50)
    assert type(ablation.env) is lw.RandomTaskWrapper
    assert type(lw.make_ha2020_env(scheduler=False).env) is lw.WorkspaceWrapper
    state = jax.eval_shape(env.reset, jax.random.key(0))
    assert state.info["task_steps"].dtype == jnp.int32
