"""SAC-Lagrangian: losses on hand-made batches, the multiplier's dual ascent, the limit
conversion, config validation, and a constrained toy env it must learn to respect."""

import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from constrained_speed_env import ConstrainedSpeed

import driver
import envs
from algorithms import sac, sac_lagrangian
from algorithms.sac import losses as sac_losses
from algorithms.sac_lagrangian import losses
from rlcore.config import apply_overrides
from rlcore.networks import FeedForwardNetwork
from rlcore.types import Transition

# Hand-made networks: policy mean = obs @ w, raw scale 0; critic c of an ensemble:
# Q_c(s, a) = a_c * sum(s) + b_c * sum(a). Reward and cost critics share the form.
POLICY = FeedForwardNetwork(
    init=None, apply=lambda p, obs: jnp.concatenate([obs @ p["w"], jnp.zeros_like(obs @ p["w"])],
                                                    -1))
LINEAR_Q = FeedForwardNetwork(
    init=None, apply=lambda p, obs, act: (p["a"] * obs.sum(-1, keepdims=True)
                                          + p["b"] * act.sum(-1, keepdims=True)))
NETWORKS = losses.Networks(
    sac=sac_losses.Networks(policy=POLICY, q=LINEAR_Q, action_low=(-1.0,), action_high=(1.0,)),
    cost_q=LINEAR_Q)
POLICY_PARAMS = {"w": jnp.array([[0.5], [-0.25]])}
Q_PARAMS = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([0.5, -1.0])}
COST_Q_PARAMS = {"a": jnp.array([0.3, -0.2]), "b": jnp.array([1.0, 0.4])}
TARGET_COST_Q_PARAMS = {"a": jnp.array([0.6, 0.1]), "b": jnp.array([-0.5, 0.8])}
BATCH = Transition(
    obs=jnp.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0], [0.5, -1.5]]),
    action=jnp.array([[0.3], [-0.6], [0.9], [0.1]]),
    reward=jnp.array([1.0, -0.5, 2.0, 0.0]),
    cost=jnp.array([0.0, 1.0, 0.5, 2.0]),
    discount=jnp.array([1.0, 0.0, 1.0, 1.0]),
    next_obs=jnp.array([[0.5, 0.5], [2.0, -1.0], [1.0, 1.0], [-1.0, 0.0]]),
)


def _sample(obs, key):
    dist = sac_losses.action_distribution(NETWORKS.sac, POLICY_PARAMS, obs)
    return map(np.asarray, dist.sample_and_log_prob(key))


def _linear_q(params, obs, action):
    """The hand-made ensemble in NumPy: `(B, D), (B,) -> (B, C)`."""
    s = np.asarray(obs).sum(-1)
    return np.stack([a * s + b * action for a, b in zip(np.asarray(params["a"]),
                                                         np.asarray(params["b"]))], -1)


# ------------------------------------------------------------------------------ losses


def test_cost_critic_loss_by_hand():
    key = jax.random.key(0)
    gamma_c = 0.9
    loss, stats = losses.cost_critic_loss(COST_Q_PARAMS, POLICY_PARAMS, TARGET_COST_Q_PARAMS,
                                          BATCH, jax.random.clone(key), NETWORKS, gamma_c)
    next_a, next_logp = _sample(BATCH.next_obs, key)
    next_cost_q = _linear_q(TARGET_COST_Q_PARAMS, BATCH.next_obs, next_a[:, 0])
    # Pessimistic (max over the twins) and no entropy term.
    y = np.asarray(BATCH.cost) + gamma_c * np.asarray(BATCH.discount) * next_cost_q.max(-1)
    q = _linear_q(COST_Q_PARAMS, BATCH.obs, np.asarray(BATCH.action)[:, 0])
    expected = 0.5 * np.mean(np.sum((q - y[:, None]) ** 2, -1))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(stats.target_cost_q_mean, y.mean(), rtol=1e-5)
    np.testing.assert_allclose(stats.cost_q_mean, q.mean(), rtol=1e-5)
    # The batch tells the wrong targets apart: the optimistic min, and an entropy term.
    y_min = np.asarray(BATCH.cost) + gamma_c * np.asarray(BATCH.discount) * next_cost_q.min(-1)
    y_entropy = y - gamma_c * np.asarray(BATCH.discount) * 0.2 * next_logp
    for wrong in (y_min, y_entropy):
        assert abs(0.5 * np.mean(np.sum((q - wrong[:, None]) ** 2, -1)) - expected) > 1e-2


def test_cost_critic_target_carries_no_gradient():
    grads = jax.grad(lambda tp: losses.cost_critic_loss(
        COST_Q_PARAMS, POLICY_PARAMS, tp, BATCH, jax.random.key(0), NETWORKS, 0.9)[0])(
        TARGET_COST_Q_PARAMS)
    chex.assert_trees_all_equal(grads, jax.tree.map(jnp.zeros_like, TARGET_COST_Q_PARAMS))


def test_actor_loss_by_hand():
    key = jax.random.key(1)
    alpha, lam = 0.2, 1.7
    loss, stats = losses.actor_loss(POLICY_PARAMS, Q_PARAMS, COST_Q_PARAMS, alpha, lam, BATCH,
                                    jax.random.clone(key), NETWORKS)
    a, logp = _sample(BATCH.obs, key)
    q = _linear_q(Q_PARAMS, BATCH.obs, a[:, 0]).min(-1)
    cost_q = _linear_q(COST_Q_PARAMS, BATCH.obs, a[:, 0]).max(-1)
    np.testing.assert_allclose(loss, np.mean(alpha * logp - q + lam * cost_q), rtol=1e-5)
    np.testing.assert_allclose(stats.entropy, -logp.mean(), rtol=1e-5)
    # lambda = 0 is SAC's actor loss.
    sac_loss, _ = sac_losses.actor_loss(POLICY_PARAMS, Q_PARAMS, alpha, BATCH,
                                        jax.random.clone(key), NETWORKS.sac)
    zero_lam, _ = losses.actor_loss(POLICY_PARAMS, Q_PARAMS, COST_Q_PARAMS, alpha, 0.0, BATCH,
                                    jax.random.clone(key), NETWORKS)
    np.testing.assert_allclose(zero_lam, sac_loss, rtol=1e-6)


def test_actor_loss_moves_neither_lambda_nor_alpha():
    def loss(alpha, lam):
        return losses.actor_loss(POLICY_PARAMS, Q_PARAMS, COST_Q_PARAMS, alpha, lam, BATCH,
                                 jax.random.key(2), NETWORKS)[0]

    grad_alpha, grad_lam = jax.grad(loss, argnums=(0, 1))(0.2, 1.7)
    assert grad_alpha == 0.0 and grad_lam == 0.0


def _cost_of_policy(key):
    """J_c on the hand-made batch: mean_B max_k Q_cost_k(s, a~), a~ ~ pi (what `update` uses)."""
    action, _ = sac_losses.action_distribution(NETWORKS.sac, POLICY_PARAMS,
                                               BATCH.obs).sample_and_log_prob(key)
    return losses.pessimistic_cost_q(NETWORKS, COST_Q_PARAMS, BATCH.obs, action).mean()


LAMBDA_MAX = 10.0  # the bound of the "bounded" parameterisation in these tests


@pytest.mark.parametrize("parameterization", ["log", "softplus", "bounded"])
@pytest.mark.parametrize("lam", [1e-4, 0.5, 3.0])
def test_lambda_gradient_sign_on_both_sides_of_the_limit(parameterization, lam):
    cost = _cost_of_policy(jax.random.key(3))
    param = losses.multiplier_param(lam, parameterization, LAMBDA_MAX)
    np.testing.assert_allclose(losses.multiplier(param, parameterization, LAMBDA_MAX), lam,
                               rtol=1e-4)
    dlam_dparam = {"log": lam, "softplus": float(jax.nn.sigmoid(param)),
                   "bounded": lam * (1.0 - lam / LAMBDA_MAX)}[parameterization]

    def grad(limit):
        return jax.grad(lambda p: losses.lambda_loss(p, cost, limit, parameterization,
                                                     LAMBDA_MAX)[0])(param)

    for limit, sign in ((float(cost) - 0.4, -1.0), (float(cost) + 0.4, 1.0)):
        g = grad(limit)
        # dJ/dp = -(J_c - limit) * dlambda/dp: descent raises lambda above the limit and
        # lowers it below, with a gradient that does not vanish near lambda = 0 (no clip).
        np.testing.assert_allclose(g, -(float(cost) - limit) * dlam_dparam, rtol=1e-4)
        assert np.sign(g) == sign
    loss, stats = losses.lambda_loss(param, cost, float(cost) - 0.4, parameterization,
                                     LAMBDA_MAX)
    np.testing.assert_allclose(loss, -lam * 0.4, rtol=1e-4)
    np.testing.assert_allclose(stats.violation, 0.4, rtol=1e-4)


def _dual_descent_path(parameterization, cost, limit, steps=300):
    """lambda after each of `steps` Adam steps (lr 0.1) on `lambda_loss`, from lambda = 0.5,
    with a constant cost estimate."""
    import optax

    opt = optax.adam(0.1)
    grad_fn = jax.jit(jax.grad(
        lambda p: losses.lambda_loss(p, cost, limit, parameterization, LAMBDA_MAX)[0]))
    param = losses.multiplier_param(0.5, parameterization, LAMBDA_MAX)
    opt_state = opt.init(param)
    lams = []
    for _ in range(steps):
        updates, opt_state = opt.update(grad_fn(param), opt_state)
        param = optax.apply_updates(param, updates)
        lams.append(float(losses.multiplier(param, parameterization, LAMBDA_MAX)))
    return lams


def test_bounded_lambda_rises_toward_its_bound_and_never_passes_it():
    """Above the limit for many Adam steps: "log" grows without bound, "bounded" stays below
    lambda_max while still rising."""
    finals = {}
    for parameterization in ("log", "bounded"):
        lams = _dual_descent_path(parameterization, cost=2.0, limit=1.0)
        assert np.all(np.diff(lams) >= 0)
        finals[parameterization] = lams[-1]
    assert finals["log"] > 1e10  # exp(0.1 * 300 steps): the unbounded growth
    assert 0.99 * LAMBDA_MAX < finals["bounded"] <= LAMBDA_MAX


def test_bounded_lambda_needs_a_bound_above_its_start():
    with pytest.raises(ValueError, match="lambda_max"):
        sac_lagrangian.Config(lambda_parameterization="bounded", init_lambda=1.0,
                              lambda_max=0.5)


@pytest.mark.parametrize("parameterization", ["log", "softplus", "bounded"])
def test_dual_descent_keeps_lambda_non_negative_and_approaches_zero(parameterization):
    """Below the limit for many Adam steps: lambda falls monotonically toward 0, never below."""
    lams = _dual_descent_path(parameterization, cost=1.0, limit=2.0)
    assert np.all(np.diff(lams) < 0) and lams[-1] > 0.0
    assert lams[-1] < 1e-2, lams[-1]


# ----------------------------------------------------------------------- update / config

SPEC = envs.make("classic/pendulum").spec


def _batch(key, cost):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return Transition(obs=jax.random.normal(k1, (8, 3)),
                      action=jax.random.uniform(k2, (8, 1), minval=-2, maxval=2),
                      reward=jax.random.normal(k3, (8,)), cost=jnp.full((8,), cost),
                      discount=jnp.ones(8), next_obs=jax.random.normal(k4, (8, 3)))


def _config(**kwargs):
    return sac_lagrangian.Config(hidden_sizes=(16, 16), batch_size=8, replay_capacity=64,
                                 **kwargs)


def test_update_metrics_and_lambda_direction():
    """With a limit far above any cost estimate lambda falls, except during warm-up; a fixed
    penalty is a constant."""
    key_init, key_batch, key_update = jax.random.split(jax.random.key(0), 3)
    batch = _batch(key_batch, 0.0)
    config = _config(cost_limit_per_step=100.0, init_lambda=0.5, lambda_lr=1e-2,
                     lambda_warmup_env_steps=10)
    state = sac_lagrangian.init(key_init, config, SPEC)
    update = jax.jit(sac_lagrangian.update)  # one compilation for both cases
    key_warm, key_learn = jax.random.split(key_update)
    for env_steps, key, moves in ((9, key_warm, False), (10, key_learn, True)):
        start = state.replace(env_steps=jnp.asarray(env_steps, jnp.int32))
        new_state, metrics = update(start, batch, key)
        lam_before = float(sac_lagrangian.current_lambda(start))
        lam_after = float(sac_lagrangian.current_lambda(new_state))
        np.testing.assert_allclose(lam_before, 0.5, rtol=1e-6)
        assert (lam_after < lam_before) if moves else (lam_after == lam_before), env_steps
        for name in ("train/lambda", "train/cost_q", "train/cost_q_limit", "train/alpha",
                     "train/cost_critic_loss"):
            chex.assert_shape(metrics[name], ())
        np.testing.assert_allclose(metrics["train/lambda"], lam_after, rtol=1e-6)
        np.testing.assert_allclose(metrics["train/cost_q_limit"],
                                   100.0 * (1 - 0.99**200) / (1 - 0.99), rtol=1e-5)
        assert int(new_state.grad_steps) == 1
    fixed = sac_lagrangian.init(jax.random.key(1), _config(fixed_lambda=0.7), SPEC)
    np.testing.assert_allclose(sac_lagrangian.current_lambda(fixed), 0.7, rtol=1e-6)


@pytest.mark.parametrize("num_envs, ratio", [(1, 1.0), (8, 0.5)])
def test_multiplier_steps_once_per_iteration(num_envs, ratio):
    """lambda moves on the first of an iteration's G gradient steps only: over one iteration
    it moves as much whatever G is (1 and 4 here), so its rate per env step is fixed."""
    config = _config(cost_limit_per_step=100.0, init_lambda=0.5, lambda_lr=1e-2,
                     lambda_warmup_env_steps=0, num_envs=num_envs,
                     grad_steps_per_env_step=ratio)
    num_updates = config.grad_steps_per_iteration
    key_init, key_batch, key_update = jax.random.split(jax.random.key(5), 3)
    state = sac_lagrangian.init(key_init, config, SPEC)
    batch = _batch(key_batch, 0.0)
    update = jax.jit(sac_lagrangian.update)
    trajectory = []
    for key in jax.random.split(key_update, 2 * num_updates):
        state, metrics = update(state, batch, key)
        trajectory.append(float(metrics["train/lambda"]))
    # Adam's first step moves the parameter by lr whatever the gradient's size.
    first = 0.5 * np.exp(-1e-2)
    np.testing.assert_allclose(trajectory[:num_updates], first, rtol=1e-5)
    assert trajectory[num_updates] < first  # the second iteration's step
    np.testing.assert_allclose(trajectory[num_updates:], trajectory[num_updates], rtol=1e-6)


def _buffer_with_costs(costs, capacity):
    """A replay buffer of `capacity` slots into which `costs` were added in order, in
    batches of 2 (as two envs collect), wrapping around."""
    from rlcore import loop, replay

    buffer = replay.init(loop.empty_transition(3, 1), capacity)
    costs = jnp.asarray(costs, jnp.float32).reshape(-1, 2)
    for pair in costs:
        item = jax.tree.map(lambda x: jnp.zeros((2, *x.shape), x.dtype),
                            loop.empty_transition(3, 1))
        buffer = replay.add(buffer, item._replace(cost=pair))
    return buffer


def test_recent_cost_rate_by_hand():
    # 10 costs into 8 slots: the ring holds the last 8, the newest at slot 1.
    costs = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    buffer = _buffer_with_costs(costs, capacity=8)
    rate = sac_lagrangian.recent_cost_rate
    chex.assert_shape(rate(buffer, 4), ())
    np.testing.assert_allclose(rate(buffer, 3), 1.0 / 3.0, rtol=1e-6)  # 1, 0, 0
    np.testing.assert_allclose(rate(buffer, 4), 0.25, rtol=1e-6)  # 0, 1, 0, 0
    np.testing.assert_allclose(rate(buffer, 8), 3.0 / 8.0, rtol=1e-6)  # the last 8
    np.testing.assert_allclose(rate(buffer, 100), 3.0 / 8.0, rtol=1e-6)  # capped at capacity
    # Partly filled: only the filled slots count.
    np.testing.assert_allclose(rate(_buffer_with_costs([1.0, 0.0, 0.0, 0.0], 8), 8), 0.25,
                               rtol=1e-6)
    np.testing.assert_allclose(rate(_buffer_with_costs([], 8), 8), 0.0)


@pytest.mark.parametrize("estimate, recent_cost, rises", [
    ("recent_cost", 1.0, True),  # incurs cost 1 per step against a limit of 0.5: up
    ("recent_cost", 0.0, False),  # incurs none (old costly steps outside the window): down
    ("cost_q", 1.0, False),  # a fresh critic estimates ~0 cost, whatever was incurred: down
])
def test_multiplier_follows_the_constraint_estimate(estimate, recent_cost, rises):
    """The recent cost rate, converted by (1 - gamma_c^T) / (1 - gamma_c), is compared with
    q_limit: lambda rises iff the policy lately incurred more than the limit."""
    config = _config(cost_limit_per_step=0.5, lambda_lr=1e-2, lambda_warmup_env_steps=0,
                     constraint_estimate=estimate, constraint_window_steps=8)
    key_init, key_batch, key_update = jax.random.split(jax.random.key(4), 3)
    state = sac_lagrangian.init(key_init, config, SPEC)
    # 16 old steps with cost 1, then 8 recent steps with `recent_cost`.
    buffer = _buffer_with_costs([1.0] * 16 + [recent_cost] * 8, capacity=64)
    state = state.replace(buffer=buffer)
    new_state, metrics = sac_lagrangian.update(state, _batch(key_batch, 0.0), key_update)
    horizon = (1 - 0.99**200) / (1 - 0.99)
    np.testing.assert_allclose(metrics["train/recent_cost_rate"], recent_cost, rtol=1e-6)
    if estimate == "recent_cost":
        np.testing.assert_allclose(metrics["train/cost_estimate"], recent_cost * horizon,
                                   rtol=1e-5)
        np.testing.assert_allclose(metrics["train/cost_violation"],
                                   (recent_cost - 0.5) * horizon, rtol=1e-5)
    else:
        np.testing.assert_allclose(metrics["train/cost_estimate"], metrics["train/cost_q"])
    lam_before = float(sac_lagrangian.current_lambda(state))
    lam_after = float(sac_lagrangian.current_lambda(new_state))
    assert (lam_after > lam_before) if rises else (lam_after < lam_before)


def test_limit_conversion_by_hand():
    gamma, horizon = 0.95, 40
    per_episode = _config(cost_limit_per_episode=8.0, cost_discount=gamma)
    expected = 8.0 * (1 - gamma**horizon) / ((1 - gamma) * horizon)
    np.testing.assert_allclose(per_episode.q_limit(horizon), expected, rtol=1e-12)
    per_step = _config(cost_limit_per_step=8.0 / horizon, cost_discount=gamma)
    np.testing.assert_allclose(per_step.q_limit(horizon), expected, rtol=1e-12)
    np.testing.assert_allclose(per_step.cost_rate_limit(horizon), 0.2)
    # No limit given: 25 per episode.
    np.testing.assert_allclose(_config(cost_discount=gamma).q_limit(horizon),
                               25.0 * (1 - gamma**horizon) / ((1 - gamma) * horizon))


@pytest.mark.parametrize("field, kwargs", [
    ("cost_limit_per_step", dict(cost_limit_per_step=-0.1)),
    ("cost_limit_per_episode", dict(cost_limit_per_episode=-5.0)),
    ("cost_limit_per_step", dict(cost_limit_per_step=float("nan"))),
    ("cost_limit_per_episode", dict(cost_limit_per_step=0.1, cost_limit_per_episode=5.0)),
    ("lambda_lr", dict(lambda_lr=0.0)),
    ("cost_critic_lr", dict(cost_critic_lr=-1e-3)),
    ("init_lambda", dict(init_lambda=0.0)),
    ("lambda_parameterization", dict(lambda_parameterization="relu")),
    ("cost_discount", dict(cost_discount=1.0)),
    ("fixed_lambda", dict(fixed_lambda=-1.0)),
    ("constraint_estimate", dict(constraint_estimate="episode_q")),
    ("constraint_window_steps", dict(constraint_window_steps=0)),
])
def test_bad_config_names_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        sac_lagrangian.Config(**kwargs)


def test_cost_limit_flags():
    """`--config.cost_limit_per_step=...` sets the limit; a bad one names the field."""
    config = apply_overrides(sac_lagrangian.Config(), {"cost_limit_per_step": "0.05"})
    assert config.cost_limit_per_step == 0.05 and config.cost_limit_per_episode is None
    with pytest.raises(ValueError, match="cost_limit_per_step"):
        apply_overrides(sac_lagrangian.Config(), {"cost_limit_per_step": "-1"})
    with pytest.raises(ValueError, match="cost_limit_per_episode"):
        apply_overrides(sac_lagrangian.Config(),
                        {"cost_limit_per_step": "0.05", "cost_limit_per_episode": "10"})


# ---------------------------------------------------------------------------- learning

EPISODE = 25
LIMIT_PER_STEP = 0.36  # constrained optimum: speed 0.6, 60% of the unconstrained return
COMMON = dict(total_env_steps=12_000, num_envs=8, batch_size=64, replay_capacity=12_000,
              warmup_steps=400, learning_starts=400, grad_steps_per_env_step=0.5,
              eval_every_steps=2_000, num_eval_envs=8, checkpoint_every_evals=0,
              hidden_sizes=(32, 32), discount=0.8, tau=0.02, actor_lr=1e-3, critic_lr=1e-3,
              alpha_lr=1e-3)


@pytest.mark.slow  # a learning test
def test_lagrangian_respects_the_limit_where_sac_does_not():
    """Speed env (reward a, cost a^2): SAC drives at full speed, far above a budget of
    0.36 * 25 = 9 per episode; SAC-Lagrangian ends within 20% of the budget (mean of the last
    two evaluations) and keeps at least half of SAC's return. The budget is given per episode
    so that the limit conversion is part of what is tested."""
    start = time.perf_counter()
    env = ConstrainedSpeed(EPISODE)
    budget = LIMIT_PER_STEP * EPISODE
    sac_result = driver.train(sac, env, sac.Config(**COMMON), seed=0, progress=False)
    lag_config = sac_lagrangian.Config(
        **COMMON, cost_limit_per_episode=budget, cost_discount=0.8, cost_critic_lr=1e-3,
        init_lambda=0.3, lambda_lr=5e-4, lambda_warmup_env_steps=1_000)
    lag_result = driver.train(sac_lagrangian, env, lag_config, seed=0, progress=False)
    seconds = time.perf_counter() - start

    def final(result, name):
        return float(np.mean([row[name] for row in result.metrics[-2:]]))

    sac_cost, sac_return = final(sac_result, "eval/cost"), final(sac_result, "eval/return")
    lag_cost, lag_return = final(lag_result, "eval/cost"), final(lag_result, "eval/return")
    history = [(row["step"], round(row["eval/cost"], 2), round(row["train/lambda"], 3))
               for row in lag_result.metrics]
    assert sac_cost > 1.5 * budget, f"SAC cost {sac_cost:.2f}, budget {budget}"
    assert abs(lag_cost - budget) <= 0.2 * budget, f"(step, cost, lambda): {history}"
    assert lag_return >= 0.5 * sac_return, f"returns {lag_return:.2f} vs SAC {sac_return:.2f}"
    np.testing.assert_allclose(final(lag_result, "eval/cost_rate"), lag_cost / EPISODE,
                               rtol=1e-4)
    print(f"\nSAC cost {sac_cost:.2f} return {sac_return:.2f}; SAC-Lagrangian cost "
          f"{lag_cost:.2f} return {lag_return:.2f} (budget {budget}); {seconds:.0f} s")
