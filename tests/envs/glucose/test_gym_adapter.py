"""The Gymnasium and simglucose front-ends of the glucose env (`envs.glucose.gym_adapter`).

Every test shares one adapter (its reset and step compiled once each, counted by `chex`), and
both references share one compiled day of the JAX env, so the file compiles three programs.
"""

import functools
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.glucose import controllers, population, pump
from envs.glucose.gym_adapter import (
    GlucoseGymEnv,
    SimglucoseStyleEnv,
    reset_key,
    run_controller,
)

PATIENT = "adult#001"
SEED = 3  # a day with three main meals and a snack for adult#001
DAY_STEPS = 288  # 1440 min / 5 min (GuardianRT)


def _make_env():
    # announce_meals: the coming step's carbs are known, as basal-bolus needs them.
    return envs.make(f"glucose/{PATIENT}", announce_meals=True)


@pytest.fixture(scope="module")
def gym_env():
    env = _make_env()
    # The adapter must compile its step once, whatever the calls (reset, actions, seeds).
    env.step = chex.assert_max_traces(env.step, n=1)
    env.reset = chex.assert_max_traces(env.reset, n=1)
    return GlucoseGymEnv(env)


@functools.cache
def _jax_day():
    """One compiled day of the JAX env alone (no adapter), for both comparisons: each step
    plays `controllers.basal_bolus` when `closed_loop`, else the given action (U/h)."""
    env = _make_env()  # not the adapter's env, whose traces are counted
    basal_bolus = controllers.basal_bolus(env.dt_min)

    def run(key, actions_u_per_h, closed_loop):
        def body(state, action_given):
            action_bb, _ = basal_bolus.act((), state)
            state = env.step(state, jnp.where(closed_loop, action_bb, action_given))
            return state, (state.info, state.reward, state.obs)

        _, out = jax.lax.scan(body, env.reset(key), actions_u_per_h)
        return out

    return jax.jit(run)


def test_gymnasium_check_env_passes(gym_env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym_env, skip_render_check=True)  # no render modes
    gym_warnings = [str(w.message) for w in caught if "WARN:" in str(w.message)]
    # Two recommendations do not apply: the observation Box is unbounded (insulin on board has
    # no upper bound), and the action is a rate in U/h, not normalised to [-1, 1] or [0, 1].
    expected = ("Box observation space minimum value is -infinity",
                "Box observation space maximum value is -infinity",  # gymnasium's wording
                "we recommend using a symmetric and normalized space")
    assert gym_warnings and all(any(e in w for e in expected) for w in gym_warnings), gym_warnings


def test_bad_actions_and_calls_raise_clearly(gym_env):
    with pytest.raises(RuntimeError, match="reset"):
        GlucoseGymEnv(f"glucose/{PATIENT}").step(np.zeros((1,), np.float32))
    gym_env.reset(seed=0)
    state = gym_env.jax_state
    for bad in (np.zeros((2,)), np.float32(1.0), np.zeros((1, 1))):
        with pytest.raises(ValueError, match=r"expected \(1,\).*U/h"):
            gym_env.step(bad)
    with pytest.raises(ValueError, match="numeric"):
        gym_env.step(["a lot"])
    assert gym_env.jax_state is state and gym_env.num_steps == 0
    with pytest.raises(ValueError, match="Unknown reset options"):
        gym_env.reset(options={"patient": 1})
    with pytest.raises(ValueError, match=r"patient index in \[0, 1\)"):
        gym_env.reset(options={"task": 1})  # under jit the JAX env would clip it
    with pytest.raises(ValueError, match="only apply to an env given by name"):
        GlucoseGymEnv(gym_env.jax_env, sensor_noise=False)
    with pytest.raises(ValueError, match=r"Action\(basal=U/min, bolus=U/min\)"):
        SimglucoseStyleEnv(gym_env).step(np.ones((1,)))


def test_simglucose_bbcontroller_unchanged_matches_jax_basal_bolus(gym_env):
    from simglucose.controller.basal_bolus_ctrller import BBController

    sim = SimglucoseStyleEnv(gym_env)
    first = sim.reset(seed=SEED)
    assert first.info["sample_time"] == 5.0 and first.info["patient_name"] == PATIENT
    assert first.info["time"].hour == 0 and first.observation.CGM == sim.last_info["cgm"]
    # simglucose's `meal` is g/min over the step (BBController multiplies by sample_time).
    assert first.info["meal"] * 5.0 == pytest.approx(sim.last_info["meal_next_g"])
    traces = run_controller(BBController(), sim, seed=SEED)

    env = gym_env.jax_env
    ref_info, _, _ = jax.device_get(
        _jax_day()(reset_key(SEED), np.zeros((DAY_STEPS, 1), np.float32), True))

    # Same day: same meals (so the same keys reached the same meal draw) and same length.
    np.testing.assert_array_equal(traces["meal_g"], ref_info["meal_g"])
    assert (traces["meal_g"] > 0).sum() >= 3
    # Same boluses and basal, pulse for pulse (the pump delivers 0.05 U increments).
    pulse_u_per_h = pump.pump(env.config.pump).increment_u * 60.0 / env.dt_min
    np.testing.assert_allclose(traces["insulin_u_per_h"], ref_info["insulin_u_per_h"],
                               rtol=0, atol=pulse_u_per_h)
    total_u = (traces["insulin_u_per_h"].sum() - ref_info["insulin_u_per_h"].sum()) * 5 / 60
    assert abs(total_u) < 1e-3
    basal = population.basal_u_per_h(PATIENT)
    assert (traces["insulin_u_per_h"][traces["meal_g"] > 0] > basal + 5).all()  # boluses given
    # Same glucose (float rounding of two compiled programs apart), CGM noise included.
    np.testing.assert_allclose(traces["bg"], ref_info["bg"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(traces["cgm"], ref_info["cgm"], rtol=0, atol=1e-3)


def test_unannounced_meals_are_reported_after_the_step_as_simglucose_does(gym_env):
    from simglucose.controller.base import Action

    sim = SimglucoseStyleEnv(gym_env)
    sim.announce_meals = False  # simglucose's T1DSimEnv: the carbs of the step just simulated
    assert sim.reset(seed=SEED).info["meal"] == 0.0
    basal_u_per_min = population.basal_u_per_h(PATIENT) / 60.0
    reported = []
    while not reported or reported[-1] == 0.0:  # until the first meal (~7:00)
        step = sim.step(Action(basal=basal_u_per_min, bolus=0.0))
        assert step.info["meal"] * 5.0 == pytest.approx(sim.last_info["meal_g"])
        reported.append(step.info["meal"])
    assert step.info["time"].hour >= 5 and sim.last_info["insulin_u_per_h"] == pytest.approx(
        basal_u_per_min * 60.0, abs=0.6)  # basal, within one 0.05 U pulse per 5 min


def test_bbcontroller_reads_the_same_therapy_table():
    # simglucose's BBController takes basal, CR and CF from its own Quest.csv and
    # vpatient_params.csv by name; ours come from the copies in envs/glucose/data.
    from simglucose.controller.basal_bolus_ctrller import BBController

    bb = BBController()
    for name in population.population():
        therapy = population.therapy(name)
        quest = bb.quest[bb.quest.Name == name]
        assert float(quest.CR.item()) == therapy.carb_ratio_g_per_u
        assert float(quest.CF.item()) == therapy.correction_factor_mg_dl_per_u
        action = bb._bb_policy(name, 0.0, 100.0, 5.0)
        assert action.basal * 60.0 == pytest.approx(population.basal_u_per_h(name), rel=1e-12)


class NumpyPID:
    """A PID on the latest CGM around 140 mg/dL, added to the basal rate (U/h), in numpy."""

    def __init__(self, basal_u_per_h, correction_factor, dt_min, history):
        self.basal, self.cf, self.dt, self.history = basal_u_per_h, correction_factor, dt_min, \
            history
        self.integral, self.previous = 0.0, None

    def __call__(self, obs):
        cgm = float(obs[self.history - 1]) * 100.0  # newest CGM reading, mg/dL
        previous = cgm if self.previous is None else self.previous
        error = cgm - 140.0
        self.integral += error * self.dt
        slope = (cgm - previous) / self.dt
        units_per_h = (error / 1.5 + self.integral / 960.0 + slope * 40.0) / self.cf
        self.previous = cgm
        return np.array([max(self.basal + units_per_h, 0.0)], np.float32)


def test_numpy_pid_runs_a_day_and_matches_the_jax_env(gym_env):
    env = gym_env.jax_env
    therapy = population.therapy(PATIENT)
    pid = NumpyPID(population.basal_u_per_h(PATIENT), therapy.correction_factor_mg_dl_per_u,
                   env.dt_min, env.config.history)
    obs, info = gym_env.reset(seed=SEED)
    assert obs.dtype == np.float32 and obs in gym_env.observation_space
    assert all(type(v) is float for v in info.values())
    actions, rewards, observations, bg = [], [], [], []
    truncated = False
    while not truncated:
        action = pid(obs)
        obs, reward, terminated, truncated, info = gym_env.step(action)
        assert not terminated and type(reward) is float
        actions.append(action)
        rewards.append(reward)
        observations.append(obs)
        bg.append(info["bg"])
    assert len(rewards) == DAY_STEPS == env.spec.episode_length
    assert np.isfinite(observations).all() and np.isfinite(rewards).all()
    with pytest.raises(RuntimeError, match="episode has ended"):
        gym_env.step(action)

    ref_info, ref_reward, ref_obs = jax.device_get(
        _jax_day()(reset_key(SEED), np.stack(actions), False))
    np.testing.assert_allclose(rewards, ref_reward, rtol=0, atol=1e-5)
    np.testing.assert_allclose(bg, ref_info["bg"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(np.stack(observations), ref_obs, rtol=0, atol=1e-4)
    assert 70 < np.mean(bg) < 180  # the PID doses sensibly


def _meals(gym_env):
    meals = jax.device_get(gym_env.jax_state.env_state.meals)
    return np.concatenate([meals.time_min, meals.carbs_g])


def _trajectory(gym_env, seed=None, steps=24):
    obs, _ = gym_env.reset(seed=seed)
    meals, out = _meals(gym_env), [obs]
    for _ in range(steps):
        out.append(gym_env.step(np.array([1.0], np.float32))[0])
    return meals, np.stack(out)


def test_seeds_reproduce_episodes_and_differ_between_seeds(gym_env):
    meals_a, traj_a = _trajectory(gym_env, seed=11)
    meals_b, traj_b = _trajectory(gym_env, seed=11)
    np.testing.assert_array_equal(meals_a, meals_b)
    np.testing.assert_array_equal(traj_a, traj_b)
    # Unseeded resets continue the seed's key stream: new episodes, reproducible from the seed.
    meals_next, _ = _trajectory(gym_env, steps=0)
    assert not np.array_equal(meals_next, meals_a)
    _trajectory(gym_env, seed=11, steps=0)
    np.testing.assert_array_equal(_trajectory(gym_env, steps=0)[0], meals_next)
    meals_c, traj_c = _trajectory(gym_env, seed=12)
    assert not np.array_equal(meals_a, meals_c) and not np.array_equal(traj_a, traj_c)
