"""MJX envs: bad input, task families (one compiled step for a batch mixing tasks), task
ranges, dynamics changes against MuJoCo's C API, and rewards against hand computations.

Two MJX compilations in this file (cheetah-vel and cheetah-disabled-joint, both batched);
the other checks trace only (`jax.eval_shape`) or evaluate pure functions eagerly.
"""

import chex
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs

NUM_STEPS = 20


def _broadcast(state, batch):
    """A batch of `batch` copies of one state (same initial physics for every env)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + jnp.shape(x)), state)


def _actions(key, env, num_steps=NUM_STEPS):
    return jax.random.uniform(key, (num_steps, env.spec.action_size), minval=-1.0, maxval=1.0)


@pytest.fixture(scope="module")
def cheetah_vel():
    env = envs.make("mjx/cheetah-vel")
    traces = {"count": 0}

    def batched_step(states, actions):
        traces["count"] += 1
        return jax.vmap(env.step)(states, actions)

    return env, jax.jit(batched_step), traces


# ------------------------------------------------------------------------ bad input


def test_wrong_action_shape_fails_at_trace_time_naming_expected_shape():
    env = envs.make("mjx/cheetah-run")
    state = jax.eval_shape(env.reset, jax.random.key(0))
    with pytest.raises(ValueError, match=r"expected \(6,\)"):
        jax.eval_shape(env.step, state, jnp.zeros((5,)))
    quadruped = envs.make("mjx/quadruped-walk")
    state = jax.eval_shape(quadruped.reset, jax.random.key(1))
    with pytest.raises(ValueError, match=r"expected \(8,\)"):
        jax.eval_shape(quadruped.step, state, jnp.zeros((2, 8)))


def test_unknown_split_and_bad_options_rejected():
    with pytest.raises(ValueError, match="split"):
        envs.make("mjx/cheetah-slope", split="validation")
    with pytest.raises(ValueError, match="pitch_limit_rad"):
        envs.make("mjx/quadruped-walk", pitch_limit_rad=-0.1)


# ------------------------------------------------------------------------ task families


def test_cheetah_vel_batch_mixes_tasks_in_one_compiled_step_and_nan_is_zero_torque(
        cheetah_vel):
    """Envs 0/1: same physics, targets 0.5 and 2.5 m/s -> different rewards, each equal to
    the hand-computed -|v - v*| - 0.05 |a|^2. Env 2 gets NaN in the first action entry,
    env 3 a zero there: identical trajectories, NaNs counted only for env 2."""
    env, step, traces = cheetah_vel
    key_reset, key_actions = jax.random.split(jax.random.key(0))
    state = env.reset(key_reset, task=np.array([0.5], np.float32))
    tasks = jnp.array([[0.5], [2.5], [0.5], [0.5]], jnp.float32)
    states = _broadcast(state, 4).replace(task=tasks)
    actions = _actions(key_actions, env)
    nan_rewards = []
    for t in range(NUM_STEPS):
        a = actions[t]
        batch = jnp.stack([a, a, a.at[0].set(jnp.nan), a.at[0].set(0.0)])
        prev = states
        states = step(states, batch)
        speed = np.asarray(states.env_state.qvel[:, 0])  # root x velocity, m/s
        for i, target in enumerate([0.5, 2.5]):
            expected = -abs(speed[i] - target) - 0.05 * float(jnp.sum(a ** 2))
            np.testing.assert_allclose(states.reward[i], expected, rtol=1e-5, atol=1e-5)
            # The planner's reward function gives the env's reward.
            np.testing.assert_allclose(
                env.reward_fn(prev.obs[i], a, states.obs[i], tasks[i]), states.reward[i],
                rtol=1e-6)
        nan_rewards.append(float(states.reward[2]))
    assert traces["count"] == 1
    np.testing.assert_array_equal(states.obs[0], states.obs[1])
    assert abs(float(states.reward[0]) - float(states.reward[1])) > 0.5
    np.testing.assert_array_equal(states.obs[2], states.obs[3])
    np.testing.assert_array_equal(states.info["nan_actions"], [0, 0, NUM_STEPS, 0])
    assert np.all(np.isfinite(nan_rewards))
    assert np.all(np.isfinite(np.asarray(states.env_state.qpos)))
    # The robot moved: the check is not on a body at rest.
    assert float(jnp.max(jnp.abs(states.env_state.qvel[:, 0]))) > 0.05


@pytest.mark.full_opt  # 1e-3 against MuJoCo C: holds with XLA's default optimisation
def test_cheetah_disabled_joint_matches_c_with_zero_gain_and_switches_mid_episode():
    """Tasks disabling joint 0 and joint 5 step in one compiled batch. Every control step
    matches `mj_step` on a C model whose actuator gain is zeroed, restarted from the MJX
    state (float32 MJX: 1e-3), and differs from the nominal C model. A task switching from
    joint 0 to joint 5 at 0.25 s follows the joint-0 run until then."""
    env = envs.make("mjx/cheetah-disabled-joint", split="train")
    traces = {"count": 0}

    def batched_step(states, actions):
        traces["count"] += 1
        return jax.vmap(env.step)(states, actions)

    step = jax.jit(batched_step)
    switch_s = 0.25  # 5 control steps of 0.05 s
    tasks = np.array([[0, 0, 1e9], [5, 5, 1e9], [0, 5, switch_s]], np.float32)
    key_reset, key_actions = jax.random.split(jax.random.key(1))
    state = env.reset(key_reset, task=tasks[0])
    states = _broadcast(state, 3).replace(task=jnp.asarray(tasks))
    actions = _actions(key_actions, env)
    models = {}
    for joint in (0, 5, None):
        model = envs.make("mjx/cheetah-run").mj_model
        if joint is not None:
            model.actuator_gainprm[joint, 0] = 0.0
        models[joint] = model
    data = mujoco.MjData(models[None])
    history, nominal_gap = [], 0.0
    for t in range(NUM_STEPS):
        previous = states.env_state
        states = step(states, jnp.broadcast_to(actions[t], (3, env.spec.action_size)))
        history.append(np.asarray(states.env_state.qpos))
        for i, joint in enumerate((0, 5)):
            for which in (joint, None):
                data.qpos[:] = np.asarray(previous.qpos[i])
                data.qvel[:] = np.asarray(previous.qvel[i])
                data.qacc_warmstart[:] = np.asarray(previous.qacc_warmstart[i])
                data.ctrl[:] = np.asarray(actions[t])
                for _ in range(env.n_frames):
                    mujoco.mj_step(models[which], data)
                err = np.max(np.abs(np.asarray(states.env_state.qvel[i]) - data.qvel))
                if which is None:
                    nominal_gap = max(nominal_gap, float(err))
                else:
                    assert err < 1e-3, (t, joint, err)
    assert traces["count"] == 1
    assert nominal_gap > 0.1  # a working motor would have moved the cheetah differently
    history = np.stack(history)
    switch_step = int(round(switch_s / env.spec.dt))
    np.testing.assert_allclose(history[:switch_step, 2], history[:switch_step, 0], atol=1e-6)
    assert np.max(np.abs(history[-1, 2] - history[-1, 0])) > 1e-3
    assert np.max(np.abs(history[-1, 1] - history[-1, 0])) > 1e-2


def test_task_models_change_the_documented_fields():
    """task -> mjx.Model, checked against the nominal C model's fields by hand."""
    slope = envs.make("mjx/cheetah-slope")
    gravity = np.asarray(slope.task_model(jnp.array([0.1]), jnp.zeros(())).opt.gravity)
    np.testing.assert_allclose(gravity, 9.81 * np.array([-np.sin(0.1), 0.0, -np.cos(0.1)]),
                               rtol=1e-6)

    ant = envs.make("mjx/ant-crippled-leg", split="test")
    gains = np.asarray(ant.task_model(jnp.array([3.0]), jnp.zeros(())).actuator_gainprm[:, 0])
    np.testing.assert_array_equal(gains, [1, 1, 1, 1, 1, 1, 0, 0])

    walker = envs.make("mjx/walker-params")
    u = walker.sample_tasks(jax.random.key(2), 1)[0]
    model = walker.task_model(u, jnp.zeros(()))
    mj = walker.mj_model
    nb, nv, ng = mj.nbody, mj.nv, mj.ngeom
    u = np.asarray(u, np.float64)
    assert u.shape == (nb + 3 * nb + nv + 3 * ng,)
    np.testing.assert_allclose(model.body_mass, mj.body_mass * 1.5 ** u[:nb], rtol=1e-5)
    np.testing.assert_allclose(model.body_inertia,
                               mj.body_inertia * 1.5 ** u[nb:4 * nb].reshape(nb, 3), rtol=1e-5)
    np.testing.assert_allclose(model.dof_damping, mj.dof_damping * 1.5 ** u[4 * nb:4 * nb + nv],
                               rtol=1e-5)
    np.testing.assert_allclose(model.geom_friction,
                               mj.geom_friction * 1.5 ** u[4 * nb + nv:].reshape(ng, 3),
                               rtol=1e-5)


@pytest.mark.parametrize("name, kwargs, check", [
    ("mjx/cheetah-vel", {}, lambda t: (t[:, 0] >= 0) & (t[:, 0] <= 3)),
    ("mjx/cheetah-dir", {}, lambda t: np.abs(t[:, 0]) == 1),
    ("mjx/ant-dir", {}, lambda t: (t[:, 0] >= 0) & (t[:, 0] < 2 * np.pi)),
    ("mjx/ant-goal", {}, lambda t: np.linalg.norm(t, axis=1) <= 3 + 1e-5),
    ("mjx/point-goal", {}, lambda t: np.all(np.abs(t) <= 1, axis=1)),
    ("mjx/point-goal-sparse", {}, lambda t: (np.abs(np.linalg.norm(t, axis=1) - 1) < 1e-5)
     & (t[:, 1] >= 0)),
    ("mjx/walker-params", {}, lambda t: np.all(np.abs(t) <= 3, axis=1)),
    ("mjx/cheetah-slope", {"split": "train"}, lambda t: np.abs(t[:, 0]) <= 0.1),
    ("mjx/cheetah-slope", {"split": "test"},
     lambda t: (np.abs(t[:, 0]) >= 0.15) & (np.abs(t[:, 0]) <= 0.3)),
    ("mjx/cheetah-disabled-joint", {"split": "train"}, lambda t: t[:, 1] <= 4),
    ("mjx/cheetah-disabled-joint", {"split": "test"}, lambda t: t[:, 1] == 5),
    ("mjx/ant-crippled-leg", {"split": "train"}, lambda t: t[:, 0] <= 2),
    ("mjx/ant-crippled-leg", {"split": "test"}, lambda t: t[:, 0] == 3),
])
def test_sample_tasks_in_documented_range(name, kwargs, check):
    env = envs.make(name, **kwargs)
    tasks = np.asarray(env.sample_tasks(jax.random.key(3), 64))
    assert tasks.shape == (64, env.spec.task_size)
    assert np.all(check(tasks)), tasks
    single_task_splits = {"mjx/cheetah-disabled-joint", "mjx/ant-crippled-leg"}
    if not (name in single_task_splits and kwargs.get("split") == "test"):
        assert len(np.unique(tasks, axis=0)) > 1  # a distribution, not one task


@pytest.mark.parametrize("name, kwargs, bad", [
    ("mjx/cheetah-vel", {}, [3.5]),
    ("mjx/cheetah-dir", {}, [0.5]),
    ("mjx/ant-goal", {}, [3.0, 3.0]),
    ("mjx/point-goal-sparse", {}, [0.6, 0.6]),
    ("mjx/walker-params", {}, None),
    ("mjx/cheetah-slope", {"split": "train"}, [0.2]),
    ("mjx/cheetah-slope", {"split": "test"}, [0.05]),
    ("mjx/cheetah-disabled-joint", {"split": "train"}, [5.0, 5.0, 1e9]),
    ("mjx/ant-crippled-leg", {"split": "test"}, [0.0]),
])
def test_task_outside_range_is_rejected(name, kwargs, bad):
    env = envs.make(name, **kwargs)
    if bad is None:
        bad = np.full((env.spec.task_size,), 3.5, np.float32)
    with pytest.raises(ValueError, match="outside the range"):
        env.reset(jax.random.key(4), task=np.asarray(bad, np.float32))
    with pytest.raises(ValueError, match="expected"):
        env.reset(jax.random.key(5), task=np.zeros((env.spec.task_size + 1,), np.float32))


def test_test_split_task_accepted_only_by_test_env():
    train = envs.make("mjx/cheetah-slope", split="train")
    test = envs.make("mjx/cheetah-slope", split="test")
    task = np.array([0.2], np.float32)
    state = test.reset(jax.random.key(6), task=task)
    np.testing.assert_allclose(state.task, task)
    with pytest.raises(ValueError, match="train split"):
        train.reset(jax.random.key(7), task=task)


# ------------------------------------------------------------------------ rewards by hand


def test_reward_functions_match_hand_computations():
    action = jnp.full((8,), 0.5)  # |a|^2 = 2
    ant_dir = envs.make("mjx/ant-dir")
    obs = jnp.zeros((27,)).at[13].set(1.0).at[14].set(2.0)  # v = (1, 2) m/s
    np.testing.assert_allclose(
        ant_dir.reward_fn(obs, action, obs, jnp.array([np.pi / 2])), 2.0 + 1.0 - 0.5 * 2.0,
        rtol=1e-6)
    ant_goal = envs.make("mjx/ant-goal")
    obs = jnp.zeros((29,)).at[0].set(1.0).at[1].set(-2.0)  # xy = (1, -2) m
    np.testing.assert_allclose(ant_goal.reward_fn(obs, action, obs, jnp.array([0.5, 0.5])),
                               -(0.5 + 2.5) - 0.1 * 2.0, rtol=1e-6)
    ant_run = envs.make("mjx/ant-run")
    obs = jnp.zeros((27,)).at[13].set(1.5)
    np.testing.assert_allclose(ant_run.reward_fn(obs, action, obs, None), 1.5 + 1 - 1.0,
                               rtol=1e-6)
    assert float(ant_run.done_fn(obs.at[0].set(0.1), None)) == 1.0  # torso below 0.2 m
    assert float(ant_run.done_fn(obs.at[0].set(0.5), None)) == 0.0

    walker = envs.make("mjx/walker-run")
    obs = jnp.zeros((17,)).at[0].set(1.2).at[8].set(2.0)
    a6 = jnp.full((6,), 1.0)
    np.testing.assert_allclose(walker.reward_fn(obs, a6, obs, None), 2.0 + 1.0 - 6e-3,
                               rtol=1e-6)
    assert float(walker.done_fn(obs, None)) == 0.0
    assert float(walker.done_fn(obs.at[1].set(1.2), None)) == 1.0  # torso angle > 1 rad

    cheetah_dir = envs.make("mjx/cheetah-dir")
    obs = jnp.zeros((17,)).at[8].set(3.0)
    np.testing.assert_allclose(cheetah_dir.reward_fn(obs, a6, obs, jnp.array([-1.0])),
                               -3.0 - 0.05 * 6, rtol=1e-6)

    sparse = envs.make("mjx/point-goal-sparse")
    goal = jnp.array([0.0, 1.0])
    near = jnp.array([0.0, 0.9, 0.0, 0.0])  # 0.1 m from the goal
    far = jnp.array([0.0, 0.7, 0.0, 0.0])  # 0.3 m
    np.testing.assert_allclose(sparse.reward_fn(near, None, near, goal), 0.9, rtol=1e-6)
    assert float(sparse.reward_fn(far, None, far, goal)) == 0.0
    dense = envs.make("mjx/point-goal")
    np.testing.assert_allclose(dense.reward_fn(far, None, far, jnp.array([0.4, 0.7])), -0.4,
                               rtol=1e-6)


def test_quadruped_cost_bounds_and_configurable():
    from envs.mjx import quadruped

    env = envs.make("mjx/quadruped-walk")
    obs = jnp.zeros((quadruped.OBS_SIZE,)).at[0].set(0.2)
    cost = lambda e, roll, pitch: float(e.cost_fn(
        obs, None, obs.at[quadruped.OBS_ROLL].set(roll).at[quadruped.OBS_PITCH].set(pitch),
        None))
    assert cost(env, 0.0, 0.0) == 0.0
    assert cost(env, 0.0, 0.27) == 1.0  # pitch > pi/12 = 0.2618
    assert cost(env, 0.0, -0.25) == 0.0
    assert cost(env, -0.53, 0.0) == 1.0  # |roll| > pi/6 = 0.5236
    assert cost(env, 0.5, 0.0) == 0.0
    loose = envs.make("mjx/quadruped-walk", pitch_limit_rad=0.4, roll_limit_rad=0.2)
    assert cost(loose, 0.0, 0.27) == 0.0
    assert cost(loose, 0.25, 0.0) == 1.0
    # Reset carries pitch and roll in info, at the standing pose.
    state = env.reset(jax.random.key(8))
    chex.assert_trees_all_close(state.info["pitch"], 0.0, atol=1e-6)
    chex.assert_trees_all_close(state.info["roll"], 0.0, atol=1e-6)
