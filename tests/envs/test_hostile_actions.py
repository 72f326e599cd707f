"""Hostile actions (docs/hostile_actions.md): NaN, +-inf, huge finite values, wrong shapes and
wrong dtypes never reach the physical state of any env family, and every step counts the
entries it sanitised in `info["nan_actions"]` (a count since reset).

One env per family: classic/pendulum, glucose/adult#001, the five MJX bodies (point, cheetah,
ant, quadruped, walker) and the Ha et al. 2020 quadruped stack (its low-pass filter is the
one wrapper that transforms actions).

Default suite:
  * shape and dtype errors at trace time (`jax.eval_shape`: no compile) for every env;
  * Hypothesis, 200 examples each, on pendulum and glucose with their real dynamics;
  * Hypothesis, 200 examples each, on every MJX env with its physics replaced by a recorder
    (`_recorder`): the control reaching `pipeline_step` is finite, inside the ctrlrange and
    bit for bit the one of the sanitised sequence (small compiles, no `mjx.step`);
  * one fixed hostile sequence through real MJX physics (mjx/point-goal), and the count
    surviving auto-reset.
Slow (`-m slow`): Hypothesis, 200 examples each, through the real physics of every MJX env.

Every property compiles one `lax.scan` of NUM_STEPS steps per env (cached for the module)
and feeds Hypothesis's examples as data of one shape: no example recompiles.
"""

import functools
import os

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs import wrappers
from envs.glucose import pump

NUM_STEPS = 16  # glucose: 80 min; robots: 0.8-1.6 s
CLASSIC, GLUCOSE = "classic/pendulum", "glucose/adult#001"
MJX_BODIES = ("mjx/point-goal", "mjx/cheetah-run", "mjx/ant-run", "mjx/quadruped-walk",
              "mjx/walker-run")
HA2020 = "mjx/quadruped-multitask"
MJX_ENVS = MJX_BODIES + (HA2020,)
ALL_ENVS = (CLASSIC, GLUCOSE) + MJX_ENVS
GLUCOSE_MAX_MG_DL = 1000.0

F32 = np.float32
HOSTILE = tuple(float(F32(v)) for v in (np.nan, np.inf, -np.inf, 1e30, -1e30, 3.4e38, -3.4e38))
EXAMPLES = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Through real MJX physics each example costs a rollout: 50 in CI's slow step (the 200 per
# family are the recorder tests above, which check what reaches the physics);
# JAXRL_PHYSICS_EXAMPLES=200 runs the full count (238 s of CPU for the six bodies).
PHYSICS_EXAMPLES = settings(EXAMPLES, max_examples=int(os.environ.get("JAXRL_PHYSICS_EXAMPLES",
                                                                      "50")))


# ----------------------------------------------------------------------------- helpers

@functools.cache
def _env(name: str):
    return envs.make(name)


def _box(env) -> tuple[np.ndarray, np.ndarray]:
    """The box `check_action` sanitises to: the spec's, or for glucose [0, the pump's limit]
    (U/h; the pump accepts boluses beyond the learners' box)."""
    if hasattr(env, "pump_params"):
        high = pump.max_dose_u(env.pump_params, env.dt_min) * 60.0 / env.dt_min
        return np.zeros((1,), F32), np.full((1,), high, F32)
    return np.asarray(env.spec.action_low, F32), np.asarray(env.spec.action_high, F32)


def _sanitise(actions: np.ndarray, low: np.ndarray, high: np.ndarray):
    """The documented convention, independently of `check_action`: (clean, bad mask).

    A subnormal entry is the action 0 (XLA flushes subnormals to zero in some ops and not
    in others; Hypothesis found them).
    """
    actions = np.where(np.abs(actions) < np.finfo(F32).tiny, F32(0), actions)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(actions)
        bad = ~finite | (actions < low) | (actions > high)
        clean = np.where(finite, np.clip(actions, low, high), np.clip(F32(0), low, high))
    return clean.astype(F32), bad


def _actions(env) -> st.SearchStrategy:
    """(NUM_STEPS, action_size) float32 mixing NaN, +-inf, huge and in-box values, and the
    floats just outside the box."""
    low, high = _box(env)
    edges = [float(F32(v)) for v in (*low, *high,
                                     *np.nextafter(low, F32(-np.inf)),
                                     *np.nextafter(high, F32(np.inf)))]
    elements = st.one_of(st.sampled_from(HOSTILE + tuple(edges)),
                         st.floats(float(low.min()), float(high.max()), width=32),
                         st.floats(width=32))
    return hnp.arrays(F32, (NUM_STEPS, env.spec.action_size), elements=elements)


def _fixed_hostile(env) -> np.ndarray:
    """A deterministic (NUM_STEPS, action_size) sequence cycling through hostile values."""
    low, high = _box(env)
    values = np.array(HOSTILE + (0.0, -0.0, 0.5, -0.5), F32)
    grid = np.add.outer(np.arange(NUM_STEPS), np.arange(env.spec.action_size)) % len(values)
    actions = values[grid]
    actions[::5] = high  # some steps exactly on the box, some just outside
    actions[1::5] = np.nextafter(high, F32(np.inf))
    actions[2::7] = np.nextafter(low, F32(-np.inf))
    return actions


def _rollout_fn(env):
    """jit(seed, actions (T, A)) -> the states after each step, stacked (T, ...)."""

    def rollout(seed, actions):
        state = env.reset(jax.random.key(seed))

        def body(s, a):
            s = env.step(s, a)
            return s, s

        return jax.lax.scan(body, state, actions)[1]

    return jax.jit(rollout)


@functools.cache
def _rollout(name: str):
    return _rollout_fn(_env(name))


@functools.cache
def _recorder(name: str):
    """The env with MJX physics replaced by a recorder of the control it is given (the state
    keeps `ctrl` and advances `time`), and its jitted rollout."""
    env = envs.make(name)
    body = env.unwrapped if hasattr(env, "unwrapped") else env

    def record(model, state, ctrl):
        del model
        return state.replace(ctrl=jnp.asarray(ctrl, state.ctrl.dtype),
                             time=state.time + body.dt)

    body.pipeline_step = record
    return env, _rollout_fn(env)


def _float_leaves(tree) -> dict[str, np.ndarray]:
    """{path: leaf} of the floating-point leaves of a host (numpy) pytree."""
    return {jax.tree_util.keystr(path): leaf
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
            if np.issubdtype(np.asarray(leaf).dtype, np.floating)}


_PARTS = ("env_state", "obs", "reward", "cost", "done", "info", "task")
_PHYSICS = ("env_state", "obs", "reward", "cost", "done")


def _assert_finite(states, what: str):
    for part in _PARTS:
        for path, leaf in _float_leaves(getattr(states, part)).items():
            assert np.all(np.isfinite(leaf)), f"{what}: {part}{path} is not finite: {leaf}"


def _assert_same(states, clean_states, what: str):
    """The hostile rollout's physics is the sanitised rollout's, bit for bit."""
    for part in _PHYSICS:
        hostile = _float_leaves(getattr(states, part))
        clean = _float_leaves(getattr(clean_states, part))
        for path, a in hostile.items():
            if not np.array_equal(a, clean[path]):  # (-0.0 == 0.0)
                np.testing.assert_array_equal(a, clean[path], err_msg=f"{what}: {part}{path}")


def _assert_glucose_physiological(env, states):
    gs, bg = states.env_state, np.asarray(states.info["bg"])
    assert np.all(bg > 0) and np.all(bg < GLUCOSE_MAX_MG_DL), bg
    compartments = gs.patient.x._asdict()
    del compartments["x"]  # remote insulin action relative to basal: may be negative
    for field, value in compartments.items():
        assert np.all(np.asarray(value) >= 0), (field, value)
    for field in ("planned_meal_g", "last_to_eat_g", "meal_start_qsto_mg", "eaten_g"):
        assert np.all(np.asarray(getattr(gs.patient, field)) >= 0), field
    assert np.all(np.asarray(gs.pump_residual_u) >= 0)
    assert np.all(np.asarray(gs.iob_compartments_u) >= 0)
    # Delivered U/h: at most the pump's limit plus the carried increment.
    _, high = _box(env)
    slack = env.pump_params.increment_u * 60.0 / env.dt_min
    delivered = np.asarray(states.info["insulin_u_per_h"])
    assert np.all(delivered >= 0) and np.all(delivered <= high[0] + slack), delivered


def _check(name: str, env, rollout, seed: int, actions: np.ndarray, real_mjx: bool):
    """Runs the hostile and the sanitised sequence and checks every property."""
    low, high = _box(env)
    clean, bad = _sanitise(actions, low, high)
    states, clean_states = jax.device_get((rollout(seed, actions), rollout(seed, clean)))
    _assert_finite(states, name)
    _assert_same(states, clean_states, name)
    np.testing.assert_array_equal(np.asarray(states.info["nan_actions"]),
                                  np.cumsum(bad.sum(axis=1)).astype(F32), err_msg=name)
    assert not np.any(np.asarray(clean_states.info["nan_actions"])), name
    if name == GLUCOSE:
        _assert_glucose_physiological(env, states)
    if name.startswith("mjx/"):
        data = states.env_state
        # MjxEnv keeps the last finite state when the simulation blows up: the simulated time
        # would then stand still. It advanced on every step: the physics never went
        # non-finite.
        dt = env.unwrapped.dt if hasattr(env, "unwrapped") else env.dt
        np.testing.assert_allclose(np.asarray(data.time), dt * np.arange(1, NUM_STEPS + 1),
                                   rtol=1e-4, err_msg=name)
        ctrl = np.asarray(data.ctrl)
        assert np.all((ctrl >= low) & (ctrl <= high)), (name, ctrl)
        if not real_mjx and name != HA2020:
            # What reached the physics is the sanitised action itself.
            np.testing.assert_array_equal(ctrl, clean, err_msg=name)


# ----------------------------------------------------------------------------- shapes, dtypes

@pytest.mark.parametrize("name", ALL_ENVS)
def test_wrong_shape_and_dtype_fail_at_trace_time_naming_the_env(name):
    env = _env(name)
    size = env.spec.action_size
    state = jax.eval_shape(env.reset, jax.random.key(0))
    for shape in ((size + 1,), (), (1, size), (size, 2)):
        given_ = rf"\({', '.join(map(str, shape))},?\)" if shape else r"\(\)"
        with pytest.raises(ValueError, match=rf"{name}: action has shape {given_}, "
                                             rf"expected \({size},\)"):
            jax.eval_shape(env.step, state, jnp.zeros(shape))
    for dtype in (jnp.bool_, jnp.complex64):
        with pytest.raises(ValueError, match=rf"{name}: action has dtype"):
            jax.eval_shape(env.step, state, jnp.zeros((size,), dtype))
    # Integers and other float widths are cast to float32 (traced through the recorder for
    # MJX: tracing mjx.step takes seconds).
    env = _recorder(name)[0] if name.startswith("mjx/") else env
    for dtype in (jnp.int32, jnp.uint8, jnp.float16, jnp.bfloat16):
        out = jax.eval_shape(env.step, state, jnp.zeros((size,), dtype))
        assert out.obs.dtype == jnp.float32 and out.info["nan_actions"].dtype == jnp.float32


@pytest.mark.parametrize("name", ALL_ENVS)
def test_check_action_values_and_dtypes(name):
    env = _env(name)
    low, high = _box(env)
    size = env.spec.action_size
    check = functools.partial(env.check_action, low=low, high=high)
    safe = np.clip(F32(0), low, high)
    for value in (np.nan, np.inf, -np.inf):
        clean, count = check(jnp.full((size,), value, jnp.float32))
        np.testing.assert_array_equal(clean, safe)
        assert float(count) == size
    for value, bound in ((1e30, high), (-1e30, low)):
        clean, count = check(jnp.full((size,), value, jnp.float32))
        np.testing.assert_array_equal(clean, bound)
        assert float(count) == size
    clean, count = check(np.full((size,), 10**6, np.int32))
    np.testing.assert_array_equal(clean, high)
    assert clean.dtype == jnp.float32 and float(count) == size
    inside = (low + high) / 2
    clean, count = check(inside.astype(np.float64))  # JAX makes it float32 (x64 off)
    np.testing.assert_array_equal(clean, inside.astype(F32))
    assert float(count) == 0
    # A subnormal is 0 (never below a bound of 0), eagerly and compiled alike.
    tiny = jnp.full((size,), -1.4e-45, jnp.float32)
    for clean, count in (check(tiny), jax.jit(check)(tiny)):
        np.testing.assert_array_equal(clean, np.clip(F32(0), low, high))
        assert float(count) == (0 if np.all(low <= 0) else size)
    with jax.enable_x64(True):  # float64 is checked in float64: 1e300 is clipped, not inf
        clean, count = check(jnp.asarray(np.full((size,), 1e300)))
        assert jnp.asarray(np.full((size,), 1e300)).dtype == jnp.float64
        np.testing.assert_array_equal(clean, high)
        assert clean.dtype == jnp.float32 and float(count) == size


# ----------------------------------------------------------------------------- properties

@EXAMPLES
@given(seed=st.integers(0, 2**16), data=st.data())
def test_pendulum_hypothesis(seed, data):
    env = _env(CLASSIC)
    _check(CLASSIC, env, _rollout(CLASSIC), seed, data.draw(_actions(env)), real_mjx=False)


@EXAMPLES
@given(seed=st.integers(0, 2**16), data=st.data())
def test_glucose_hypothesis(seed, data):
    env = _env(GLUCOSE)
    _check(GLUCOSE, env, _rollout(GLUCOSE), seed, data.draw(_actions(env)), real_mjx=False)


@pytest.mark.parametrize("name", MJX_ENVS)
@EXAMPLES
@given(seed=st.integers(0, 2**16), data=st.data())
def test_mjx_hypothesis_what_reaches_the_physics(name, seed, data):
    env, rollout = _recorder(name)
    _check(name, env, rollout, seed, data.draw(_actions(env)), real_mjx=False)


@pytest.mark.slow  # examples through real MJX physics: minutes per body on a CPU
@pytest.mark.parametrize("name", MJX_ENVS)
@PHYSICS_EXAMPLES
@given(seed=st.integers(0, 2**16), data=st.data())
def test_mjx_hypothesis_real_physics(name, seed, data):
    env = _env(name)
    _check(name, env, _rollout(name), seed, data.draw(_actions(env)), real_mjx=True)


# ----------------------------------------------------------------------------- deterministic

@pytest.mark.parametrize("name", (CLASSIC, GLUCOSE, "mjx/point-goal"))
def test_fixed_hostile_sequence_real_dynamics(name):
    env = _env(name)
    _check(name, env, _rollout(name), 0, _fixed_hostile(env), real_mjx=name.startswith("mjx/"))


@pytest.mark.parametrize("name", MJX_ENVS)
def test_fixed_hostile_sequence_reaches_mjx_physics_sanitised(name):
    env, rollout = _recorder(name)
    _check(name, env, rollout, 0, _fixed_hostile(env), real_mjx=False)


def test_count_survives_auto_reset_and_nothing_leaks_into_episode_stats():
    """Episodes of 3 steps, a NaN every step: the count runs on across resets (the done step's
    own count included) and the returns stay finite."""
    env = wrappers.wrap_for_training(_env(CLASSIC), episode_length=3)
    num_envs, num_steps = 2, 7
    actions = jnp.stack([jnp.full((num_envs, 1), v) for v in
                         (jnp.nan, jnp.inf, -jnp.inf, 1e30, jnp.nan, -1e30, jnp.nan)])

    def body(s, a):
        s = env.step(s, a)
        return s, s

    state = env.reset(jax.random.split(jax.random.key(0), num_envs))
    states = jax.jit(lambda s, a: jax.lax.scan(body, s, a)[1])(state, actions)
    np.testing.assert_array_equal(states.done[:, 0], [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(states.info["nan_actions"],
                                  np.arange(1, num_steps + 1, dtype=F32)[:, None]
                                  * np.ones((1, num_envs), F32))
    states = states.replace(info={k: v for k, v in states.info.items() if k != "reset_key"})
    _assert_finite(jax.device_get(states), "pendulum stack")
