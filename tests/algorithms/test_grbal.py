"""GrBAL: the inner step is a hand-written psi-scaled gradient step, the meta-gradient matches
the hand-derived (second- and first-order) MAML gradients, meta-training on random context
lengths is the hand-computed loss of the most recent 1..M transitions, an empty context leaves
theta exactly unchanged, the first-M-steps error is the hand-computed one, and meta-training
on the linear-gain family makes the adapted prediction error at least 30% lower than the
unadapted one."""

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


def test_empty_context_gives_theta_exactly_even_with_nan_padding():
    config, params, norm, key = _linear_setup(1)
    context = _random_context(key, config.M, num_valid=0)
    context = context._replace(obs=context.obs.at[0, 0].set(jnp.nan),
                               next_obs=context.next_obs.at[1, 1].set(jnp.inf))
    network = grbal.make_network(config, SPEC)
    for num_steps in (1, 2):
        theta_prime = grbal.inner_step(network, params, norm, context, num_steps=num_steps)
        chex.assert_trees_all_equal(theta_prime, params.theta)
    # MB+DE's scalar-step dynamic evaluation goes through the same code path.
    mbde_model = mbde.make_model(mbde.Config(M=4, K=3, hidden_sizes=()), SPEC)
    chex.assert_trees_all_equal(mbde_model.adapt(params.theta, norm, context), params.theta)


def _np_future_loss(w, b, past, future, norm, psi_w, psi_b):
    """The outer loss after one psi-scaled step on the masked-mean loss of `past`."""
    xp, yp, mp = _np_inputs(norm, past)
    xf, yf, _ = _np_inputs(norm, future)
    if mp.sum() > 0:
        gw, gb = _np_grad(w, b, xp, yp, mp)
        w, b = w - psi_w * gw, b - psi_b * gb
    return np.mean((xf @ w + b - yf) ** 2)


def test_random_context_length_is_the_loss_of_the_most_recent_one_to_m_transitions():
    config, params, norm, key = _linear_setup(3)
    key_data, key_draws = jax.random.split(key)
    segment = _random_context(key_data, config.M + config.K, num_valid=config.M + config.K)
    past, future = dyn.split_segment(segment, config.M)
    w, b = _wb(params.theta)
    psi_w, psi_b = _wb(params.psi)
    # By hand, for each length L: keep the last L past rows (the loop's context is
    # right-aligned); L = 1 is one psi-scaled SGD step on that one transition's loss.
    recent = lambda n: past._replace(mask=(jnp.arange(config.M) >= config.M - n) * 1.0)
    by_length = {n: _np_future_loss(w, b, recent(n), future, norm, psi_w, psi_b)
                 for n in range(config.M + 1)}
    xp, yp, _ = _np_inputs(norm, past)
    one_step_w = w - psi_w * (2.0 / 2) * np.outer(xp[-1], xp[-1] @ w + b - yp[-1])
    xf, yf, _ = _np_inputs(norm, future)
    one_step_b = b - psi_b * (2.0 / 2) * (xp[-1] @ w + b - yp[-1])
    np.testing.assert_allclose(by_length[1], np.mean((xf @ one_step_w + one_step_b - yf) ** 2))
    assert min(abs(by_length[i] - by_length[j]) for i in by_length for j in by_length
               if i < j) > 1e-4  # each draw is identifiable

    network = grbal.make_network(config, SPEC)
    loss_and_grad = jax.jit(jax.value_and_grad(
        lambda p, k: grbal.meta_loss(network, p, norm, jax.tree.map(lambda x: x[None], segment),
                                     config.M, key=k, random_context_length=True)[0]))
    seen = []
    for key_draw in jax.random.split(key_draws, 16):
        loss, grads = loss_and_grad(params, key_draw)
        assert np.isfinite(float(loss))
        assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
        matches = [n for n, v in by_length.items() if np.isclose(float(loss), v, rtol=1e-4)]
        assert len(matches) == 1, (float(loss), by_length)
        seen.append(matches[0])
    assert set(seen) == set(range(1, config.M + 1)), seen  # 1..M, never the empty context
    # The config field reaches the model's loss; False is the paper's fixed-length loss.
    for flag, expected in ((True, None), (False, by_length[config.M])):
        model = grbal.make_model(grbal.Config(M=4, K=3, hidden_sizes=(),
                                              random_context_length=flag), SPEC)
        value, _ = model.loss(params, norm, jax.tree.map(lambda x: x[None], segment),
                              jax.random.key(5))
        if expected is not None:
            np.testing.assert_allclose(float(value), expected, rtol=1e-4)
        else:
            assert any(np.isclose(float(value), by_length[n], rtol=1e-4)
                       for n in range(1, config.M + 1))


def _mean_delta_model():
    """A hand-checkable adaptive model: predicts the masked mean of the context's deltas
    (0 from an empty context), whatever the state and action."""

    def adapt(params, norm, context):
        delta = dyn.normalize_delta(norm, context.obs, context.next_obs)
        valid = context.mask[:, None] > 0
        total = jnp.sum(jnp.where(valid, delta, 0.0), axis=0)
        return total / jnp.maximum(context.mask.sum(), 1.0)

    return dyn.AdaptiveDynamics(init=None, adapt=adapt,
                                predict=lambda adapted, norm, obs, action: adapted, loss=None)


def test_first_steps_errors_by_hand():
    # M = 3; episode 0: deltas 1, 3, 5, 7; episode 1: deltas 2, 2, then terminated (the
    # padding target holds NaN, which must not leak).
    deltas = jnp.array([[1.0, 3.0, 5.0, 7.0], [2.0, 2.0, jnp.nan, 0.0]])[..., None]
    traj = dyn.Context(obs=jnp.zeros((2, 4, 1)), action=jnp.zeros((2, 4, 1)), next_obs=deltas,
                       mask=jnp.array([[1.0, 1, 1, 1], [1, 1, 0, 0]]))
    norm = dyn.identity_normalizer(1, 1)
    model = _mean_delta_model()
    contexts, _ = dyn.first_steps_contexts(traj, 3)
    np.testing.assert_array_equal(contexts.mask[0], [[0, 0, 0], [0, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(contexts.next_obs[0, 2, 1:, 0], [1.0, 3.0])
    adapted, unadapted, valid = dyn.first_steps_error_table(model, None, norm, traj, 3)
    # Step t predicts the mean of the t deltas before it (0 at t = 0); unadapted predicts 0.
    np.testing.assert_allclose(adapted, [[1.0, 4.0, 9.0], [4.0, 0.0, 0.0]])
    np.testing.assert_allclose(unadapted, [[1.0, 9.0, 25.0], [4.0, 4.0, 0.0]])
    np.testing.assert_array_equal(valid, [[1, 1, 1], [1, 1, 0]])
    errors = jax.jit(dyn.first_steps_errors, static_argnums=(0, 4))(model, None, norm, traj, 3)
    np.testing.assert_allclose(errors, (18.0 / 5, 43.0 / 5), rtol=1e-6)
    with pytest.raises(ValueError, match="shorter than M"):
        dyn.first_steps_contexts(traj, 5)
    # GrBAL at step 0 adapts from nothing: adapted and unadapted errors are equal there.
    config, params, norm, key = _linear_setup(4)
    grbal_traj = _random_context(key, 6, 6)
    grbal_traj = jax.tree.map(lambda x: jnp.stack([x, x[::-1]]), grbal_traj)
    adapted, unadapted, _ = dyn.first_steps_error_table(grbal.make_model(config, SPEC), params,
                                                        norm, grbal_traj, config.M)
    np.testing.assert_array_equal(adapted[:, 0], unadapted[:, 0])
    assert np.all(np.asarray(adapted[:, 1:]) != np.asarray(unadapted[:, 1:]))


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
