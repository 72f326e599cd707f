"""GrBAL: the inner step is a hand-written psi-scaled gradient step, the meta-gradient matches
the hand-derived (second- and first-order) MAML gradients, and meta-training on the linear-gain
family makes the adapted prediction error at least 30% lower than the unadapted one."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from linear_gain_env import LinearGainFamily, fit_model, random_trajectories

import driver
from algorithms import dynamics as dyn
from algorithms import grbal, mb, mbde, rebal
from envs.base import EnvSpec

SPEC = EnvSpec(name="toy", obs_size=2, action_size=1, action_low=(-1.0,), action_high=(1.0,),
               dt=1.0, episode_length=40)


def _random_normalizer(key):
    k = jax.random.split(key, 6)
    return dyn.Normalizer(
        obs_mean=jax.random.normal(k[0], (2,)), obs_std=jax.random.uniform(k[1], (2,)) + 0.5,
        action_mean=jax.random.normal(k[2], (1,)),
        action_std=jax.random.uniform(k[3], (1,)) + 0.5,
        delta_mean=jax.random.normal(k[4], (2,)), delta_std=jax.random.uniform(k[5], (2,)) + 0.5)


def _random_context(key, length, num_valid):
    k = jax.random.split(key, 3)
    return dyn.Context(obs=jax.random.normal(k[0], (length, 2)),
                       action=jax.random.normal(k[1], (length, 1)),
                       next_obs=jax.random.normal(k[2], (length, 2)),
                       mask=(jnp.arange(length) < num_valid).astype(jnp.float32))


def _linear_setup(seed):
    """A GrBAL model with no hidden layer: delta_n = [s_n, a_n] W + b, gradients by hand."""
    config = grbal.Config(M=4, K=3, hidden_sizes=())
    keys = jax.random.split(jax.random.key(seed), 5)
    params = grbal.init(keys[0], config, SPEC)
    # A random positive psi per parameter (Meta-SGD), not the constant initial value.
    psi = jax.tree.map(lambda t, k: jax.random.uniform(k, t.shape, minval=0.01, maxval=0.5),
                       params.theta, {"params": {"dense_0": {"kernel": keys[1],
                                                             "bias": keys[2]}}})
    return config, params._replace(psi=psi), _random_normalizer(keys[3]), keys[4]


def _np_inputs(norm, ctx):
    n = jax.tree.map(np.asarray, norm)
    c = jax.tree.map(lambda x: np.asarray(x, np.float64), ctx)
    x = np.concatenate([(c.obs - n.obs_mean) / n.obs_std,
                        (c.action - n.action_mean) / n.action_std], axis=-1)
    y = (c.next_obs - c.obs - n.delta_mean) / n.delta_std
    return x, y, c.mask


def _np_grad(w, b, x, y, m):
    """Gradient of sum_i m_i mean_d (x_i W + b - y_i)_d^2 / sum_i m_i, by hand."""
    c = 2.0 / (y.shape[1] * m.sum())
    r = (x @ w + b - y) * m[:, None]
    return c * x.T @ r, c * r.sum(0)


def _np_hvp(vw, vb, x, m, num_out):
    """Hessian of the same loss times (vw, vb) (the loss is quadratic in (W, b))."""
    c = 2.0 / (num_out * m.sum())
    dr = (x @ vw + vb) * m[:, None]
    return c * x.T @ dr, c * dr.sum(0)


def _wb(tree):
    d = tree["params"]["dense_0"]
    return np.asarray(d["kernel"], np.float64), np.asarray(d["bias"], np.float64)


def test_inner_step_is_a_hand_written_psi_scaled_gradient_step():
    config, params, norm, key = _linear_setup(0)
    context = _random_context(key, config.M, num_valid=3)  # the last row is padding
    theta_prime = grbal.inner_step(grbal.make_network(config, SPEC), params, norm, context)
    w, b = _wb(params.theta)
    psi_w, psi_b = _wb(params.psi)
    gw, gb = _np_grad(w, b, *_np_inputs(norm, context))
    got_w, got_b = _wb(theta_prime)
    np.testing.assert_allclose(got_w, w - psi_w * gw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got_b, b - psi_b * gb, rtol=1e-4, atol=1e-6)


def test_empty_context_leaves_the_model_unadapted():
    config, params, norm, key = _linear_setup(1)
    context = _random_context(key, config.M, num_valid=0)
    theta_prime = grbal.inner_step(grbal.make_network(config, SPEC), params, norm, context)
    chex.assert_trees_all_close(theta_prime, params.theta)


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradient_matches_hand_derived_maml_gradient(first_order):
    config, params, norm, key = _linear_setup(2)
    segment = _random_context(key, config.M + config.K, num_valid=config.M + config.K)
    network = grbal.make_network(config, SPEC)
    grads, _ = jax.grad(grbal.meta_loss, argnums=1, has_aux=True)(
        network, params, norm, jax.tree.map(lambda x: x[None], segment), config.M,
        first_order=first_order)
    past, future = dyn.split_segment(segment, config.M)
    xp, yp, mp = _np_inputs(norm, past)
    xf, yf, mf = _np_inputs(norm, future)
    w, b = _wb(params.theta)
    psi_w, psi_b = _wb(params.psi)
    gw_in, gb_in = _np_grad(w, b, xp, yp, mp)
    w1, b1 = w - psi_w * gw_in, b - psi_b * gb_in  # theta'
    gw_out, gb_out = _np_grad(w1, b1, xf, yf, mf)  # outer gradient at theta'
    # d/dpsi L_out(theta - psi * g_in) = -g_in * grad L_out(theta'): psi is trained.
    np.testing.assert_allclose(_wb(grads.psi)[0], -gw_in * gw_out, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(_wb(grads.psi)[1], -gb_in * gb_out, rtol=1e-3, atol=1e-6)
    # d/dtheta = (I - psi H_in) grad L_out(theta') (second order); first order drops H_in.
    hw, hb = _np_hvp(psi_w * gw_out, psi_b * gb_out, xp, mp, yp.shape[1])
    expected_w, expected_b = (gw_out, gb_out) if first_order else (gw_out - hw, gb_out - hb)
    assert not np.allclose(hw, 0.0, atol=1e-3)  # the two orders really differ here
    np.testing.assert_allclose(_wb(grads.theta)[0], expected_w, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(_wb(grads.theta)[1], expected_b, rtol=1e-3, atol=1e-6)


def _adaptation_errors(model, num_past, num_future, steps, seed=0):
    env = LinearGainFamily(episode_length=40)
    key_train, key_test, key_fit = jax.random.split(jax.random.key(seed), 3)
    params, norm = fit_model(model, random_trajectories(env, key_train, 128), key_fit, steps,
                             num_past + num_future)
    # Held-out dynamics: gains of the test split, |g| in [1, 1.5], outside training's [-1, 1].
    test = random_trajectories(env, key_test, 32, split="test")
    windows = dyn.trajectory_windows(test, num_past + num_future, num_future)
    adapted, unadapted = jax.jit(dyn.prediction_errors, static_argnums=(0, 4))(
        model, params, norm, windows, num_past)
    return float(adapted), float(unadapted)


def test_meta_trained_grbal_adapts_to_unseen_gains():
    config = grbal.Config(M=8, K=8, hidden_sizes=(32, 32), inner_lr=1e-2)
    adapted, unadapted = _adaptation_errors(grbal.make_model(config, SPEC), 8, 8, steps=100)
    assert adapted <= 0.7 * unadapted, (adapted, unadapted)


@pytest.mark.parametrize("module", [grbal, rebal, mb, mbde])
@pytest.mark.parametrize("field, kw", [("M", dict(M=0)), ("K", dict(K=0)),
                                       ("horizon", dict(horizon=50, episode_length=40)),
                                       ("M", dict(M=30, K=20, episode_length=40))])
def test_bad_config_is_rejected_naming_the_field(module, field, kw):
    with pytest.raises(ValueError, match=f"'{field}'"):
        module.Config(**kw)


def test_horizon_longer_than_the_env_episode_is_rejected_before_training():
    env = LinearGainFamily(episode_length=20)
    with pytest.raises(ValueError, match="'horizon'"):
        driver.train(grbal, env, grbal.Config(horizon=25, M=4, K=4))
