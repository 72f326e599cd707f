"""PEARL's numerics against closed forms, its gradient paths, and config validation.

The product of Gaussians is checked against the defining property of a product of densities
(log of the product minus log of the result is constant in z), the KL against the full-matrix
formula, permutation invariance on a real encoder network. Meta-training behaviour (buffers,
adaptation, posterior concentration) is in test_pearl_learning.py.
"""

import dataclasses
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import driver
from algorithms import pearl
from algorithms.pearl import encoder as enc
from algorithms.pearl import losses
from rlcore.types import Transition
from tests.algorithms.pearl_toy_env import PointGoal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _factors(seed, shape):
    key_mu, key_var = jax.random.split(jax.random.key(seed))
    mus = jax.random.normal(key_mu, shape)
    variances = jax.random.uniform(key_var, shape, minval=0.05, maxval=3.0)
    return mus, variances


def _log_normal(z, mu, var):
    return -0.5 * (np.log(2 * np.pi * var) + (z - mu) ** 2 / var)


def test_registered_and_surface():
    assert algorithms.get("pearl") is pearl
    for name in ("Config", "init", "update", "make_policy", "train", "product_of_gaussians",
                 "losses"):
        assert hasattr(pearl, name), name


def test_product_of_gaussians_is_the_normalised_product_of_densities():
    mus, variances = _factors(0, (3, 7, 4))  # batch 3, N = 7 factors, L = 4
    q = pearl.product_of_gaussians(mus, variances)
    chex.assert_shape((q.mean, q.variance), (3, 4))
    mus, variances = np.asarray(mus, np.float64), np.asarray(variances, np.float64)
    mean, var = np.asarray(q.mean, np.float64), np.asarray(q.variance, np.float64)
    # prod_n N(z; mu_n, var_n) = c * N(z; mean, var): the log-ratio does not depend on z.
    z = np.random.default_rng(0).normal(size=(5, 3, 1, 4)) * 2.0
    ratio = (_log_normal(z, mus, variances).sum(-2)
             - _log_normal(z[..., 0, :], mean, var))  # (5, 3, 4)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), atol=2e-4)
    # And the textbook formula: precisions add, the mean is precision-weighted.
    np.testing.assert_allclose(var, 1.0 / (1.0 / variances).sum(-2), rtol=1e-5)
    np.testing.assert_allclose(mean, var * (mus / variances).sum(-2), rtol=1e-4, atol=1e-6)


def test_product_of_gaussians_variance_floor_mask_and_running_sums():
    mus, variances = _factors(1, (6, 2))
    variances = variances.at[2].set(0.0)  # a degenerate factor
    floor = 1e-3
    q = pearl.product_of_gaussians(mus, variances, variance_floor=floor)
    clamped = np.maximum(np.asarray(variances), floor)
    np.testing.assert_allclose(q.variance, 1.0 / (1.0 / clamped).sum(0), rtol=1e-5)
    assert np.all(np.isfinite(np.asarray(q.mean)))
    # Masked factors are left out; an all-masked product is the prior N(0, I).
    mask = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    masked = pearl.product_of_gaussians(mus, variances, floor, mask=mask)
    keep = np.asarray(mask) > 0
    subset = pearl.product_of_gaussians(mus[keep], variances[keep], floor)
    chex.assert_trees_all_close(masked, subset, rtol=1e-6)
    none = pearl.product_of_gaussians(mus, variances, floor, mask=jnp.zeros(6))
    chex.assert_trees_all_close(none, enc.Gaussian(jnp.zeros(2), jnp.ones(2)))
    # The meta-test's running natural parameters give the same posterior, step by step.
    sums = enc.empty_sums((2,))
    for n in range(6):
        sums = enc.accumulate(sums, enc.Gaussian(mus[n], variances[n]), floor, mask[n])
    chex.assert_trees_all_close(enc.posterior_from_sums(sums), subset, rtol=1e-5)


CONFIG = pearl.Config(num_train_tasks=4, num_test_tasks=2, encoder_hidden_sizes=(16,),
                      hidden_sizes=(16,), context_size=8, batch_size=8, meta_batch=2,
                      num_initial_steps=20, num_tasks_sample=2, num_steps_prior=20,
                      num_extra_rl_steps_posterior=20, grad_steps_per_iteration=2,
                      rl_buffer_capacity=100, total_env_steps=200)
SPEC = PointGoal().spec


def _transitions(key, shape):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return Transition(obs=jax.random.normal(k1, (*shape, 2)),
                      action=jax.random.uniform(k2, (*shape, 2), minval=-1, maxval=1),
                      reward=jax.random.normal(k3, shape), cost=jnp.zeros(shape),
                      discount=jnp.ones(shape), next_obs=jax.random.normal(k4, (*shape, 2)))


def test_posterior_is_invariant_to_permuting_the_context():
    key_init, key_data, key_perm = jax.random.split(jax.random.key(2), 3)
    state = pearl.init(key_init, CONFIG, SPEC)
    posterior = jax.jit(pearl.make_posterior(CONFIG, SPEC))
    context = _transitions(key_data, (3, 10))  # 3 tasks, 10 transitions each
    perm = jax.random.permutation(key_perm, 10)
    q = posterior(pearl.policy_params(state), context)
    q_perm = posterior(pearl.policy_params(state),
                       jax.tree.map(lambda x: x[:, perm], context))
    chex.assert_shape(q.mean, (3, CONFIG.latent_size))
    chex.assert_trees_all_close(q, q_perm, rtol=1e-5, atol=1e-6)
    # A different context does change it (the check above is not vacuous).
    other = posterior(pearl.policy_params(state), jax.tree.map(lambda x: x[::-1], context))
    assert not np.allclose(q.mean, other.mean)


def test_kl_to_standard_normal_matches_the_full_matrix_formula():
    mus, variances = _factors(3, (4, 5))
    kl = pearl.kl_to_standard_normal(enc.Gaussian(mus, variances))
    chex.assert_shape(kl, (4,))
    for i, (m, v) in enumerate(zip(np.asarray(mus, np.float64),
                                   np.asarray(variances, np.float64))):
        cov = np.diag(v)  # KL(N(m, S) || N(0, I)) = 1/2 (tr S + m'm - k - log det S)
        expected = 0.5 * (np.trace(cov) + m @ m - len(m) - np.linalg.slogdet(cov)[1])
        np.testing.assert_allclose(kl[i], expected, rtol=1e-5)
    assert float(pearl.kl_to_standard_normal(enc.Gaussian(jnp.zeros(5), jnp.ones(5)))) == 0.0


def _meta_batch(key):
    key_c, key_rl = jax.random.split(key)
    return losses.MetaBatch(context=_transitions(key_c, (2, 8)), rl=_transitions(key_rl, (2, 8)))


def _critic_encoder_loss(state, batch, noise, key, kl_weight):
    p = state.params
    return losses.critic_encoder_loss(
        (p.q, p.encoder), p.policy, p.target_q, jnp.exp(p.log_alpha), batch, noise, key,
        pearl.make_networks(CONFIG, SPEC), CONFIG.discount, CONFIG.reward_scale, kl_weight,
        CONFIG.use_next_obs_in_context, CONFIG.variance_floor)


def test_kl_term_of_the_encoder_loss_equals_the_analytic_value():
    key_init, key_batch, key_noise, key_loss = jax.random.split(jax.random.key(4), 4)
    state = pearl.init(key_init, CONFIG, SPEC)
    batch = _meta_batch(key_batch)
    noise = jax.random.normal(key_noise, (2, CONFIG.latent_size))
    with_kl, stats = _critic_encoder_loss(state, batch, noise, jax.random.clone(key_loss), 0.1)
    without, _ = _critic_encoder_loss(state, batch, noise, key_loss, 0.0)
    # The posterior of each task from the encoder's raw outputs, in float64.
    networks = pearl.make_networks(CONFIG, SPEC)
    out = np.asarray(networks.encoder.apply(state.params.encoder,
                                            enc.context_features(batch.context, True)),
                     np.float64)
    mu, var = out[..., :CONFIG.latent_size], np.log1p(np.exp(out[..., CONFIG.latent_size:]))
    post_var = 1.0 / (1.0 / var).sum(1)
    post_mu = post_var * (mu / var).sum(1)
    kl = 0.5 * np.sum(post_var + post_mu ** 2 - 1.0 - np.log(post_var))  # summed over tasks
    np.testing.assert_allclose(stats.kl, kl, rtol=1e-4)
    # Halved with the critic loss (oyster's sum of two MSEs is twice SAC's 1/2 mean sum).
    np.testing.assert_allclose(with_kl - without, 0.5 * 0.1 * kl, rtol=1e-3)


def test_critic_loss_trains_the_encoder_and_the_actor_does_not():
    key_init, key_batch, key_noise, key_loss, key_actor, key_z = jax.random.split(
        jax.random.key(5), 6)
    state = pearl.init(key_init, CONFIG, SPEC)
    batch = _meta_batch(key_batch)
    noise = jax.random.normal(key_noise, (2, CONFIG.latent_size))
    p = state.params

    def critic_wrt_encoder(encoder_params, kl_weight):
        s = state.replace(params=p._replace(encoder=encoder_params))
        return _critic_encoder_loss(s, batch, noise, jax.random.clone(key_loss), kl_weight)[0]

    # Without the KL term, the encoder's gradient comes from Q(s, a, z) alone.
    grads = jax.grad(critic_wrt_encoder)(p.encoder, 0.0)
    assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads)) > 0
    networks = pearl.make_networks(CONFIG, SPEC)
    z = jax.random.normal(key_z, (2, CONFIG.latent_size))
    z_grad = jax.grad(lambda z: losses.actor_loss(p.policy, p.q, 0.2, batch.rl, z, key_actor,
                                                  networks)[0])(z)
    chex.assert_trees_all_equal(z_grad, jnp.zeros_like(z))


def test_update_is_jittable_and_deterministic():
    key_init, key_batch, key_update = jax.random.split(jax.random.key(6), 3)
    state = pearl.init(key_init, CONFIG, SPEC)
    batch = _meta_batch(key_batch)
    update = jax.jit(pearl.update)
    a, metrics = update(state, batch, jax.random.clone(key_update))
    b, _ = update(state, batch, key_update)
    chex.assert_trees_all_equal(a.params, b.params)
    assert int(a.grad_steps) == 1
    for name in ("train/critic_loss", "train/actor_loss", "train/kl", "train/alpha"):
        assert np.isfinite(metrics[name]), name
    # Every parameter set moved.
    for name in ("encoder", "policy", "q"):
        before, after = getattr(state.params, name), getattr(a.params, name)
        assert any(not np.allclose(x, y) for x, y in zip(jax.tree.leaves(before),
                                                          jax.tree.leaves(after))), name


def test_update_moves_the_encoder_by_the_critic_and_kl_gradient_only():
    """Through the whole `update`: the encoder's step is Adam's step on the gradient of the
    critic + KL loss alone, so nothing of the actor's loss reaches it (oyster detaches z
    for the policy). A leak of the actor's gradient into the encoder would change it."""
    import optax

    key_init, key_batch, key_update = jax.random.split(jax.random.key(8), 3)
    state = pearl.init(key_init, CONFIG, SPEC)
    batch = _meta_batch(key_batch)
    new_state, _ = jax.jit(pearl.update)(state, batch, jax.random.clone(key_update))
    # The update's own key derivation: (latent noise, alpha, critic, actor).
    key_latent, _, key_critic, _ = jax.random.split(key_update, 4)
    noise = jax.random.normal(key_latent, (CONFIG.meta_batch, CONFIG.latent_size))
    encoder_grads = jax.grad(lambda e: _critic_encoder_loss(
        state.replace(params=state.params._replace(encoder=e)), batch, noise, key_critic,
        CONFIG.kl_weight)[0])(state.params.encoder)
    updates, _ = optax.adam(CONFIG.encoder_lr).update(encoder_grads, state.encoder_opt_state)
    expected = optax.apply_updates(state.params.encoder, updates)
    chex.assert_trees_all_close(new_state.params.encoder, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("overrides, field", [
    (dict(context_size=500), "context_size"),
    (dict(num_test_tasks=0), "num_test_tasks"),
    (dict(num_eval_episodes=1), "num_eval_episodes"),
    (dict(num_tasks_sample=10), "num_tasks_sample"),
    (dict(rl_buffer_capacity=10), "rl_buffer_capacity"),
])
def test_bad_config_is_rejected_naming_the_field(overrides, field):
    kwargs = {f.name: getattr(CONFIG, f.name) for f in dataclasses.fields(CONFIG)}
    with pytest.raises(ValueError, match=field):
        pearl.Config(**{**kwargs, **overrides})


def test_context_size_up_to_the_encoder_buffer_is_accepted():
    # The encoder buffer holds max(initial, prior + posterior) = 40 transitions here.
    config = pearl.Config(num_train_tasks=4, num_test_tasks=1, context_size=40,
                          num_initial_steps=40, num_tasks_sample=2, num_steps_prior=30,
                          num_steps_posterior=10, rl_buffer_capacity=1000)
    assert config.encoder_buffer_size == 40
    with pytest.raises(ValueError, match="context_size"):
        pearl.Config(num_train_tasks=4, num_test_tasks=1, context_size=41, num_initial_steps=40,
                     num_tasks_sample=2, num_steps_prior=30, num_steps_posterior=10,
                     rl_buffer_capacity=1000)


class FiveGoals(PointGoal):
    """A finite family sampled with replacement, like a patient population."""

    def sample_tasks(self, key, num_tasks):
        angles = jnp.deg2rad(jnp.array([10.0, 50.0, 90.0, 130.0, 170.0]))
        index = jax.random.randint(key, (num_tasks,), 0, 5)
        return jnp.stack([jnp.cos(angles), jnp.sin(angles)], -1)[index]


def _task_config(num_train, num_test):
    return pearl.Config(num_train_tasks=num_train, num_test_tasks=num_test, num_tasks_sample=1,
                        meta_batch=2, context_size=10, rl_buffer_capacity=2000)


def test_held_out_tasks_are_disjoint_from_training_tasks(capsys):
    train, test = pearl.sample_train_test_tasks(FiveGoals(), _task_config(3, 2),
                                                jax.random.key(0))
    chex.assert_shape((train, test), ((3, 2), (2, 2)))
    both = np.concatenate([train, test])
    assert len(np.unique(both, axis=0)) == 5
    assert "WARNING" not in capsys.readouterr().out
    # Fewer distinct tasks than asked for: both sets cycle through all five, with a warning.
    train, test = pearl.sample_train_test_tasks(FiveGoals(), _task_config(5, 2),
                                                jax.random.key(0))
    assert len(np.unique(np.asarray(train), axis=0)) == 5
    assert "held-out tasks repeat training tasks" in capsys.readouterr().out


def test_env_without_tasks_is_rejected():
    import envs

    config = pearl.Config(num_train_tasks=2, num_test_tasks=1, num_tasks_sample=1,
                          context_size=10, rl_buffer_capacity=2000)
    with pytest.raises(ValueError, match="task family"):
        driver.train(pearl, envs.make("classic/pendulum"), config)


def test_launch_rejects_zero_test_tasks_with_exit_2():
    out = subprocess.run([sys.executable, "-m", "launch.train", "--algo=pearl",
                          "--config.num_test_tasks=0", "--progress=false"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "num_test_tasks" in out.stderr
