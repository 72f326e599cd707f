"""The evaluation's clinical metrics on a glucose env (its `evaluation_metrics` hook, through
`rlcore.loop.make_evaluate`) equal those counted from the trace."""

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs import wrappers
from rlcore import loop


def _constant_rate_learner(rates_u_per_h) -> loop.Learner:
    """A fixed insulin rate per eval env."""
    def policy(params, obs, key, deterministic):
        del params, key, deterministic
        return jnp.broadcast_to(jnp.asarray(rates_u_per_h, jnp.float32).reshape(-1, 1),
                                (obs.shape[0], 1))

    return loop.Learner(init=None, policy_params=None, policy=policy, update=None)


def test_eval_tir_and_tbr_match_the_glucose_trace():
    env = envs.make("glucose/adult#001")
    length, num_envs = 96, 3
    rates = np.array([0.0, 1.0, 4.0])  # U/h: no insulin (high), about basal, far too much
    learner = _constant_rate_learner(rates)
    metrics = jax.jit(loop.make_evaluate(wrappers.wrap_for_eval(env, length), learner,
                                          num_envs))(None, jax.random.key(4))
    # The same episodes by hand: the evaluation's key split, steps until the first done.
    key_reset, _ = jax.random.split(jax.random.key(4))
    eval_env = wrappers.wrap_for_eval(env, length)
    state = eval_env.reset(jax.random.split(key_reset, num_envs))
    traces, alive = [], np.ones(num_envs, bool)
    tir, tbr70, tbr54 = [], [], []
    step = jax.jit(eval_env.step)
    for _ in range(length):
        state = step(state, jnp.asarray(rates, jnp.float32)[:, None])
        traces.append((np.asarray(state.info["bg"]), alive.copy()))
        alive &= np.asarray(state.done) < 0.5
    bg = np.stack([t[0] for t in traces])
    mask = np.stack([t[1] for t in traces])
    for i in range(num_envs):
        g = bg[mask[:, i], i]
        tir.append(np.mean((g >= 70) & (g <= 180)))
        tbr70.append(np.mean(g < 70))
        tbr54.append(np.mean(g < 54))
    np.testing.assert_allclose(float(metrics["eval/tir"]), np.mean(tir), atol=1e-6)
    np.testing.assert_allclose(float(metrics["eval/tbr70"]), np.mean(tbr70), atol=1e-6)
    np.testing.assert_allclose(float(metrics["eval/tbr54"]), np.mean(tbr54), atol=1e-6)
    # The three rates give three different days (so the averages above are not trivial).
    assert len({round(x, 3) for x in tir}) == 3


def test_envs_without_glucose_have_no_clinical_metrics():
    env = envs.make("classic/pendulum")
    evaluate = loop.make_evaluate(wrappers.wrap_for_eval(env, 10),
                                  _constant_rate_learner([0.0]), 2)
    metrics = evaluate(None, jax.random.key(0))
    assert "eval/tir" not in metrics and "eval/return" in metrics
