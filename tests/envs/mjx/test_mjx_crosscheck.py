"""Every MJX robot against MuJoCo's C API (`mujoco.mj_step`) on the same model.

One test, one MJX compilation per robot. The comparison runs with 64-bit floats on both
sides (`jax.enable_x64`): in float32 the contact-rich robots (cheetah, ant, walker) are
chaotic enough that rounding differences of 1e-7 grow to centimetres within 100 steps of
random actions, which would test float32 rounding, not the env. In 64 bits the env layer
(ctrl clipping, substeps, task model, observation) must reproduce `mj_step` to
`ATOL` over 200 control steps (see `_action_sequence`; both sides clip), and to
`ATOL_SYNCED` at every one of those steps when C restarts from the MJX state.
The quadruped's pitch, roll and safety cost are checked against the C side's body rotation
matrix (`MjData.xmat`), independently of the env's quaternion formula.
"""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs

NUM_STEPS = 200
ATOL = 1e-5  # on qpos (m, rad) and qvel (m/s, rad/s), 64-bit floats on both sides
ATOL_SYNCED = 1e-8  # the same, C restarted from the MJX state before every control step
# The ant (0.9 kg, 150 N m motors) hops: rounding differences of 1e-14 grow ~10x per 10
# control steps, so two correct 64-bit implementations part after ~100 free-running steps.
# It is checked free-running over its first FREE_STEPS_CHAOTIC steps and synced over all.
CHAOTIC = ("mjx/ant-run",)
FREE_STEPS_CHAOTIC = 60

ROBOTS = ["mjx/cheetah-run", "mjx/ant-run", "mjx/walker-run", "mjx/quadruped-walk",
          "mjx/point-goal"]


def _rpy_from_xmat(xmat: np.ndarray) -> tuple[float, float]:
    """(roll, pitch) of a ZYX rotation matrix (row-major 9-vector), rad."""
    r = xmat.reshape(3, 3)
    return float(np.arctan2(r[2, 1], r[2, 2])), float(-np.arcsin(np.clip(r[2, 0], -1, 1)))


def _action_sequence(low: np.ndarray, high: np.ndarray, dt: float) -> np.ndarray:
    """(NUM_STEPS, nu) float32: 5 steps at +-1.5 times the range (both sides must clip),
    then sinusoids of half the range with periods 0.4..1.2 s and random phases per motor.

    Moderate, smooth actions keep the robots upright: random actions at full range flip the
    cheetah onto its back, where grazing torso contacts make even the 64-bit runs of two
    correct implementations drift apart (1e-15 grows to 1e-3 within ~70 steps)."""
    rng = np.random.default_rng(0)
    num_motors = low.shape[0]
    period_s = rng.uniform(0.4, 1.2, num_motors)
    phase = rng.uniform(0, 2 * np.pi, num_motors)
    time_s = np.arange(NUM_STEPS)[:, None] * dt
    mid, half = (low + high) / 2, (high - low) / 2
    actions = mid + 0.5 * half * np.sin(2 * np.pi * time_s / period_s + phase)
    actions[:5] = mid + 1.5 * half * np.where(rng.random((5, num_motors)) < 0.5, -1, 1)
    return actions.astype(np.float32)


def _run_against_c(name: str, key: jax.Array) -> dict:
    """Largest |MJX - C| on qpos and qvel of a free-running C copy (`free`, and `free_early`
    over the first FREE_STEPS_CHAOTIC steps) and of a C copy restarted from the MJX state
    before every control step (`synced`: the one-step map, immune to chaos)."""
    env = envs.make(name)
    state = env.reset(key)
    step = jax.jit(env.step)
    model = env.mj_model
    free, synced = mujoco.MjData(model), mujoco.MjData(model)
    free.qpos[:] = np.asarray(state.env_state.qpos)
    free.qvel[:] = np.asarray(state.env_state.qvel)
    actions = _action_sequence(np.asarray(env.spec.action_low),
                               np.asarray(env.spec.action_high), env.spec.dt)
    worst = {"free": 0.0, "free_early": 0.0, "synced": 0.0}
    for t in range(NUM_STEPS):
        previous = state.env_state
        synced.qpos[:] = np.asarray(previous.qpos)
        synced.qvel[:] = np.asarray(previous.qvel)
        synced.qacc_warmstart[:] = np.asarray(previous.qacc_warmstart)
        synced.time = float(previous.time)
        state = step(state, jnp.asarray(actions[t]))
        for data in (free, synced):
            data.ctrl[:] = actions[t]  # MuJoCo clamps to ctrlrange (ctrllimited)
            for _ in range(env.n_frames):
                mujoco.mj_step(model, data)
        for label, data in (("free", free), ("synced", synced)):
            err = max(float(np.max(np.abs(np.asarray(getattr(state.env_state, f))
                                          - getattr(data, f)))) for f in ("qpos", "qvel"))
            worst[label] = max(worst[label], err)
            if label == "free" and t < FREE_STEPS_CHAOTIC:
                worst["free_early"] = max(worst["free_early"], err)
        np.testing.assert_allclose(np.asarray(state.env_state.time), free.time, atol=1e-9)
        if name == "mjx/quadruped-walk":
            mujoco.mj_kinematics(model, free)  # xmat of the new qpos (mj_step leaves the old)
            roll, pitch = _rpy_from_xmat(free.xmat[1])
            np.testing.assert_allclose(state.info["roll"], roll, atol=1e-6)
            np.testing.assert_allclose(state.info["pitch"], pitch, atol=1e-6)
            expected_cost = float(abs(pitch) > np.pi / 12 or abs(roll) > np.pi / 6)
            assert float(state.cost) == expected_cost
    worst["moved_m"] = float(np.max(np.abs(free.qpos[:2] - model.qpos0[:2])))
    return worst


# The cheetah in the default suite; every other robot (about 40 s of x64 MJX compilation each
# on a 2-core CPU) in the slow step of .ci/run.
@pytest.mark.parametrize("name", [
    name if name == "mjx/cheetah-run" else pytest.param(name, marks=pytest.mark.slow)
    for name in ROBOTS])
def test_mjx_matches_mujoco_c(name):
    with jax.enable_x64(True):
        results = {name: _run_against_c(name, jax.random.fold_in(jax.random.key(0),
                                                                 ROBOTS.index(name)))}
    for name, worst in results.items():
        assert worst["synced"] < ATOL_SYNCED, (name, worst)
        assert worst["free_early"] < ATOL, (name, worst)
        if name not in CHAOTIC:
            assert worst["free"] < ATOL, (name, worst)
        # The comparison must cover a run that actually moved (not a robot at rest).
        assert worst["moved_m"] > 1e-2, (name, worst)


@pytest.mark.parametrize("name", ROBOTS)
def test_spec_matches_model(name):
    env = envs.make(name)
    model = env.mj_model
    assert env.spec.dt == pytest.approx(env.n_frames * model.opt.timestep)
    assert env.spec.action_size == model.nu
    np.testing.assert_allclose(env.spec.action_low, model.actuator_ctrlrange[:, 0])
    np.testing.assert_allclose(env.spec.action_high, model.actuator_ctrlrange[:, 1])
