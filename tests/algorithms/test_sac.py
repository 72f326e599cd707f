"""SAC losses on hand-made batches, update determinism, jit parity and config validation."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from algorithms import sac
from algorithms.sac import losses
from rlcore.networks import FeedForwardNetwork
from rlcore.types import Transition

# Hand-made networks: policy mean = obs @ w, raw scale = 0 (std = softplus(0) + 1e-3);
# critic c: Q_c(s, a) = a_c * sum(s) + b_c * sum(a).
POLICY = FeedForwardNetwork(
    init=None, apply=lambda p, obs: jnp.concatenate([obs @ p["w"], jnp.zeros_like(obs @ p["w"])],
                                                    -1))
Q = FeedForwardNetwork(
    init=None, apply=lambda p, obs, act: (p["a"] * obs.sum(-1, keepdims=True)
                                          + p["b"] * act.sum(-1, keepdims=True)))
NETWORKS = losses.Networks(policy=POLICY, q=Q, action_low=(-1.0,), action_high=(1.0,))
POLICY_PARAMS = {"w": jnp.array([[0.5], [-0.25]])}
Q_PARAMS = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([0.5, -1.0])}
TARGET_PARAMS = {"a": jnp.array([0.8, 1.5]), "b": jnp.array([1.0, 0.2])}
BATCH = Transition(
    obs=jnp.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0]]),
    action=jnp.array([[0.3], [-0.6], [0.9]]),
    reward=jnp.array([1.0, -0.5, 2.0]),
    cost=jnp.zeros(3),
    discount=jnp.array([1.0, 0.0, 1.0]),
    next_obs=jnp.array([[0.5, 0.5], [2.0, -1.0], [1.0, 1.0]]),
)


def _sample(obs, key):
    return losses.action_distribution(NETWORKS, POLICY_PARAMS, obs).sample_and_log_prob(key)


def test_critic_loss_by_hand():
    key = jax.random.key(0)
    alpha, gamma, scale = 0.3, 0.9, 2.0
    loss, stats = losses.critic_loss(Q_PARAMS, POLICY_PARAMS, TARGET_PARAMS, alpha, BATCH,
                                     jax.random.clone(key), NETWORKS, discount=gamma,
                                     reward_scale=scale)
    next_a, next_logp = map(np.asarray, _sample(BATCH.next_obs, key))
    s_next = np.asarray(BATCH.next_obs).sum(-1)
    q1 = 0.8 * s_next + 1.0 * next_a[:, 0]
    q2 = 1.5 * s_next + 0.2 * next_a[:, 0]
    y = scale * np.asarray(BATCH.reward) + gamma * np.asarray(BATCH.discount) * (
        np.minimum(q1, q2) - alpha * next_logp)
    s, a = np.asarray(BATCH.obs).sum(-1), np.asarray(BATCH.action)[:, 0]
    q = np.stack([1.0 * s + 0.5 * a, 2.0 * s - 1.0 * a], -1)
    expected = 0.5 * np.mean(np.sum((q - y[:, None]) ** 2, -1))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(stats.target_q_mean, y.mean(), rtol=1e-5)


def test_critic_target_carries_no_gradient_to_target_params():
    grads = jax.grad(lambda tp: losses.critic_loss(Q_PARAMS, POLICY_PARAMS, tp, 0.3, BATCH,
                                                   jax.random.key(0), NETWORKS, 0.9)[0])(
        TARGET_PARAMS)
    chex.assert_trees_all_equal(grads, jax.tree.map(jnp.zeros_like, TARGET_PARAMS))


def test_actor_loss_by_hand():
    key = jax.random.key(1)
    alpha = 0.2
    loss, stats = losses.actor_loss(POLICY_PARAMS, Q_PARAMS, alpha, BATCH, jax.random.clone(key),
                                    NETWORKS)
    a, logp = map(np.asarray, _sample(BATCH.obs, key))
    s = np.asarray(BATCH.obs).sum(-1)
    q = np.minimum(1.0 * s + 0.5 * a[:, 0], 2.0 * s - 1.0 * a[:, 0])
    np.testing.assert_allclose(loss, np.mean(alpha * logp - q), rtol=1e-5)
    np.testing.assert_allclose(stats.entropy, -logp.mean(), rtol=1e-5)


def test_alpha_loss_by_hand_and_gradient_sign():
    log_prob = jnp.array([-0.5, 0.5, 1.5])  # entropy estimate -0.5
    log_alpha = jnp.log(0.4)
    loss, stats = losses.alpha_loss(log_alpha, log_prob, target_entropy=-1.0)
    np.testing.assert_allclose(loss, 0.4 * np.mean(-np.asarray(log_prob) + 1.0), rtol=1e-6)
    np.testing.assert_allclose(stats.alpha, 0.4, rtol=1e-6)
    # Entropy -0.5 above the target -1: gradient descent lowers alpha.
    assert jax.grad(lambda la: losses.alpha_loss(la, log_prob, -1.0)[0])(log_alpha) > 0
    # Entropy below a target of 0: alpha rises.
    assert jax.grad(lambda la: losses.alpha_loss(la, log_prob, 0.0)[0])(log_alpha) < 0


SPEC = envs.make("classic/pendulum").spec
CONFIG = sac.Config(hidden_sizes=(16, 16), batch_size=8, replay_capacity=64)


def _batch(key):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return Transition(obs=jax.random.normal(k1, (8, 3)),
                      action=jax.random.uniform(k2, (8, 1), minval=-2, maxval=2),
                      reward=jax.random.normal(k3, (8,)), cost=jnp.zeros(8),
                      discount=jnp.ones(8), next_obs=jax.random.normal(k4, (8, 3)))


def _run_updates(update_fn, seed, n=5):
    key_init, key_batch, key_update = jax.random.split(jax.random.key(seed), 3)
    state = sac.init(key_init, CONFIG, SPEC)
    batch_keys = jax.random.split(key_batch, n)
    update_keys = jax.random.split(key_update, n)
    for i in range(n):
        state, metrics = update_fn(state, _batch(batch_keys[i]), update_keys[i])
    return state, metrics


def test_same_seed_bit_identical():
    update = jax.jit(sac.update)
    a, _ = _run_updates(update, seed=3)
    b, _ = _run_updates(update, seed=3)
    c, _ = _run_updates(update, seed=4)
    chex.assert_trees_all_equal(a.params, b.params)
    assert not np.allclose(a.params.policy["params"]["dense_0"]["kernel"],
                           c.params.policy["params"]["dense_0"]["kernel"])


def _reference_update(state, batch, key):
    """SAC's step assembled here from the losses, `jax.grad` and optax's Adam: temperature
    on a fresh policy sample, critics with the new alpha, actor on the new critics, then
    targets moved a fraction tau of the way to the new critics."""
    import optax

    config, p = state.config, state.params
    networks = sac.make_networks(config, SPEC)
    key_alpha, key_critic, key_actor = jax.random.split(key, 3)
    _, log_prob = losses.action_distribution(networks, p.policy,
                                             batch.obs).sample_and_log_prob(key_alpha)
    target_entropy = -1.0  # -|A| for the pendulum's one action

    def adam_step(lr, grads, opt_state, params):
        updates, opt_state = optax.adam(lr).update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    alpha_grad = jax.grad(lambda la: jnp.mean(
        jnp.exp(la) * jax.lax.stop_gradient(-log_prob - target_entropy)))(p.log_alpha)
    log_alpha, alpha_opt = adam_step(config.alpha_lr, alpha_grad, state.alpha_opt_state,
                                     p.log_alpha)
    alpha = jnp.exp(log_alpha)
    q_grad = jax.grad(lambda q: losses.critic_loss(q, p.policy, p.target_q, alpha, batch,
                                                   key_critic, networks, config.discount)[0])(p.q)
    q, q_opt = adam_step(config.critic_lr, q_grad, state.q_opt_state, p.q)
    pi_grad = jax.grad(lambda pi: losses.actor_loss(pi, q, alpha, batch, key_actor,
                                                    networks)[0])(p.policy)
    policy, _ = adam_step(config.actor_lr, pi_grad, state.policy_opt_state, p.policy)
    target_q = jax.tree.map(lambda t, o: t + config.tau * (o - t), p.target_q, q)
    return sac.SACParams(policy=policy, q=q, target_q=target_q, log_alpha=log_alpha)


class UpdateVariantsTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_update_matches_reference_assembled_from_losses(self):
        key_init, key_batch, key_update = jax.random.split(jax.random.key(7), 3)
        state = sac.init(key_init, CONFIG, SPEC)
        batch = _batch(key_batch)
        new_state, metrics = self.variant(sac.update)(state, batch, jax.random.clone(key_update))
        expected = jax.jit(_reference_update)(state, batch, key_update)  # compiled: eager is slow
        chex.assert_trees_all_close(new_state.params, expected, atol=1e-6, rtol=1e-5)
        assert int(new_state.grad_steps) == 1
        chex.assert_shape(metrics["train/alpha"], ())
        # The logged alpha is the one the temperature loss saw, before its step.
        np.testing.assert_allclose(metrics["train/alpha"], CONFIG.init_alpha, rtol=1e-6)


def test_polyak_moves_targets_a_fraction_tau():
    from algorithms.sac.train import polyak

    target, online = {"w": jnp.array([1.0, -2.0])}, {"w": jnp.array([3.0, 2.0])}
    np.testing.assert_allclose(polyak(target, online, 0.25)["w"], [1.5, -1.0], rtol=1e-6)
    chex.assert_trees_all_equal(polyak(target, online, 1.0), online)
    # n steps towards a fixed online value close the gap by (1 - tau)^n.
    moved = target
    for _ in range(10):
        moved = polyak(moved, online, 0.1)
    np.testing.assert_allclose(moved["w"] - online["w"],
                               (target["w"] - online["w"]) * 0.9**10, rtol=1e-5)


@pytest.mark.parametrize("field, kwargs", [
    ("batch_size", dict(batch_size=512, replay_capacity=256)),
    ("actor_lr", dict(actor_lr=-1e-3)),
    ("num_envs", dict(num_envs=0)),
    ("tau", dict(tau=0.0)),
])
def test_impossible_config_names_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        sac.Config(**kwargs)


def test_target_entropy_default_is_minus_action_size():
    assert sac.Config().entropy_target(6) == -6.0
    assert sac.Config(target_entropy=-3.0).entropy_target(6) == -3.0
