"""MPO losses (Abdolmaleki et al. 2018a, arXiv:1806.06920; 2018b, arXiv:1812.02256), each a
pure function returning `(loss, stats)` (the E-step returns its weights as well).

Shapes: B batch, N action samples per state, A action size, C critics.

The policy is a diagonal Gaussian over a pre-squash variable u, and the env receives
a = low + (tanh(u) + 1) / 2 * (high - low). The squash is a fixed bijection, so
  * KL(pi_target || pi) over actions equals the KL of the two Gaussians over u (KL is
    invariant under invertible maps), which keeps the decoupled mean/covariance KLs closed
    form, and
  * log pi(a) = log N(u) - log|da/du| where the Jacobian term does not depend on the policy
    parameters, so the M-step's weighted maximum likelihood can be done on u.
Hence no out-of-bounds action penalty is needed (acme's unsquashed policy needs MO-MPO's
penalty with epsilon 1e-3 instead). The critic sees squashed actions only.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from rlcore.networks import FeedForwardNetwork
from rlcore.types import Params, Transition

_DUAL_EPSILON = 1e-8  # added after softplus so multipliers stay strictly positive (acme)
MIN_LOG_DUAL = -18.0  # floor on pre-softplus dual values after each update (acme)


class Networks(NamedTuple):
    policy: FeedForwardNetwork  # apply(params, obs (..., D)) -> (..., 2A)
    q: FeedForwardNetwork  # apply(params, obs (..., D), action (..., A)) -> (..., C)
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    init_std: float = 0.7
    min_std: float = 1e-4


class Gaussian(NamedTuple):
    """Diagonal Gaussian over the pre-squash variable u; `mean`, `std` `(..., A)`."""

    mean: jax.Array
    std: jax.Array


class DualParams(NamedTuple):
    """Pre-softplus duals: temperature eta `()`, KL multipliers `(A,)` (per dimension)."""

    log_temperature: jax.Array
    log_alpha_mean: jax.Array
    log_alpha_stddev: jax.Array


def policy_gaussian(networks: Networks, policy_params: Params, obs: jax.Array) -> Gaussian:
    """Network output (mean, raw scale) -> Gaussian; raw 0 gives std = init_std + min_std."""
    mean, raw = jnp.split(networks.policy.apply(policy_params, obs), 2, axis=-1)
    std = jax.nn.softplus(raw) * (networks.init_std / jnp.log(2.0)) + networks.min_std
    return Gaussian(mean, std)


def squash(networks: Networks, u: jax.Array) -> jax.Array:
    """Pre-squash u `(..., A)` -> action in [low, high]."""
    low = jnp.asarray(networks.action_low, jnp.float32)
    high = jnp.asarray(networks.action_high, jnp.float32)
    return low + (jnp.tanh(u) + 1.0) * 0.5 * (high - low)


def sample(dist: Gaussian, key: jax.Array, num_samples: int) -> jax.Array:
    """N pre-squash samples `(N, ..., A)`."""
    noise = jax.random.normal(key, (num_samples, *dist.mean.shape), dist.mean.dtype)
    return dist.mean + dist.std * noise


def gaussian_log_prob(u: jax.Array, dist: Gaussian) -> jax.Array:
    """log N(u; mean, diag(std^2)) summed over A: `(..., A) -> (...)`."""
    z = (u - dist.mean) / dist.std
    return jnp.sum(-0.5 * z**2 - jnp.log(dist.std) - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def gaussian_kl(p: Gaussian, q: Gaussian) -> jax.Array:
    """KL(p || q) per action dimension `(..., A)` for diagonal Gaussians."""
    return (jnp.log(q.std / p.std) + (p.std**2 + (p.mean - q.mean) ** 2) / (2 * q.std**2)
            - 0.5)


def dual_values(dual: DualParams) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(eta, alpha_mean, alpha_stddev) = softplus(log values) + 1e-8 (acme's transform)."""
    return tuple(jax.nn.softplus(x) + _DUAL_EPSILON for x in dual)


def clip_duals(dual: DualParams) -> DualParams:
    return DualParams(*(jnp.maximum(x, MIN_LOG_DUAL) for x in dual))


class CriticStats(NamedTuple):
    q_mean: jax.Array
    target_q_mean: jax.Array


def critic_loss(q_params: Params, target_policy_params: Params, target_q_params: Params,
                batch: Transition, key: jax.Array, networks: Networks, discount: float,
                num_samples: int, reward_scale: float = 1.0) -> tuple[jax.Array, CriticStats]:
    """TD(0) with the bootstrap's expectation over the target policy (expected SARSA, 2018a
    sec. 3.3 / 4 without Retrace), estimated with N sampled actions:

        y = s * r + gamma * d * 1/N sum_n min_c Qbar_c(s', a_n),  a_n ~ pi_target(.|s')
        J_Q = 1/2 * mean_B sum_c (Q_c(s, a) - y)^2
    """
    chex.assert_rank([batch.obs, batch.action, batch.reward], [2, 2, 1])
    target_pi = policy_gaussian(networks, target_policy_params, batch.next_obs)
    next_action = squash(networks, sample(target_pi, key, num_samples))  # (N, B, A)
    next_obs = jnp.broadcast_to(batch.next_obs, (num_samples, *batch.next_obs.shape))
    next_q = networks.q.apply(target_q_params, next_obs, next_action).min(axis=-1)  # (N, B)
    target = reward_scale * batch.reward + discount * batch.discount * next_q.mean(axis=0)
    target = jax.lax.stop_gradient(target)
    q = networks.q.apply(q_params, batch.obs, batch.action)  # (B, C)
    loss = 0.5 * jnp.mean(jnp.sum((q - target[:, None]) ** 2, axis=-1))
    return loss, CriticStats(q_mean=q.mean(), target_q_mean=target.mean())


class EStepStats(NamedTuple):
    kl_nonparametric: jax.Array  # estimated KL(q || pi_target), mean over B; <= epsilon ideally
    q_spread: jax.Array  # mean_B (max_N Q - min_N Q)


def e_step(q_values: jax.Array, temperature: jax.Array, epsilon: float
           ) -> tuple[jax.Array, jax.Array, EStepStats]:
    """Non-parametric E-step (2018a eq. 7-8; 2018b eq. 4-5) on samples from pi_target.

    q(a_n|s) = exp(Q(s, a_n) / eta) / sum_m exp(Q(s, a_m) / eta), normalised over N, and
    the temperature's convex dual, with the expectation under pi_target estimated by the
    N samples:

        g(eta) = eta * epsilon + eta * mean_B log(1/N sum_n exp(Q(s, a_n) / eta))

    Args:
      q_values: `(N, B)` Q of the sampled actions (no gradient flows into them).
      temperature: eta > 0, scalar; the loss's gradient flows into it only.
      epsilon: the E-step KL bound.

    Returns:
      (weights `(N, B)` without gradient, g(eta), stats).
    """
    chex.assert_rank(q_values, 2)
    num_samples = q_values.shape[0]
    tempered = jax.lax.stop_gradient(q_values) / temperature
    weights = jax.lax.stop_gradient(jax.nn.softmax(tempered, axis=0))
    log_mean_exp = jax.scipy.special.logsumexp(tempered, axis=0) - jnp.log(num_samples)
    loss = temperature * (epsilon + jnp.mean(log_mean_exp))
    kl = jnp.sum(weights * jnp.log(num_samples * weights + 1e-8), axis=0)
    stats = EStepStats(kl_nonparametric=kl.mean(),
                       q_spread=jnp.mean(q_values.max(0) - q_values.min(0)))
    return weights, loss, stats


def kl_penalty_and_dual_loss(kl: jax.Array, alpha: jax.Array, epsilon: float
                             ) -> tuple[jax.Array, jax.Array]:
    """Lagrangian terms of one KL constraint (2018b eq. 9-11), per action dimension.

        penalty = sum_A sg(alpha) * mean_B KL        (minimised by the policy)
        dual    = sum_A alpha * (epsilon - sg(mean_B KL))   (minimised by alpha)

    alpha grows while the mean KL exceeds epsilon and shrinks while it is below.
    `kl` `(B, A)`, `alpha` `(A,)`.
    """
    mean_kl = jnp.mean(kl, axis=0)
    penalty = jnp.sum(jax.lax.stop_gradient(alpha) * mean_kl)
    dual = jnp.sum(alpha * (epsilon - jax.lax.stop_gradient(mean_kl)))
    return penalty, dual


class MStepStats(NamedTuple):
    kl_mean: jax.Array  # mean_B KL(pi_target || pi with target std), per dimension (A,)
    kl_stddev: jax.Array  # mean_B KL(pi_target || pi with target mean), per dimension (A,)
    nll: jax.Array  # weighted negative log-likelihood, both decoupled halves


def m_step_loss(online: Gaussian, target: Gaussian, samples: jax.Array, weights: jax.Array,
                alpha_mean: jax.Array, alpha_stddev: jax.Array, epsilon_mean: float,
                epsilon_stddev: float) -> tuple[jax.Array, MStepStats]:
    """Parametric M-step with decoupled KL constraints (2018b sec. 4.2, eq. 9-11):

        max E_B sum_n q_n log pi(u_n|s)   s.t. KL_mean <= eps_mean, KL_cov <= eps_cov

    The online Gaussian is split into pi_mean = N(mu_online, sigma_target) and
    pi_cov = N(mu_target, sigma_online); each half's weighted log-likelihood fits its own
    parameters, and KL(pi_target || pi_mean), KL(pi_target || pi_cov) are constrained per
    action dimension through Lagrange multipliers (penalty for the policy, dual loss for
    the multipliers).

    The covariance half fits sigma^2 = sum_n q_n (u_n - mu_target)^2: it shrinks when the
    weights concentrate near the target mean and grows when they favour samples far from
    it. Since KL(N(m, s) || N(m, s r)) = log r + 1/(2 r^2) - 1/2 ~ (log r)^2, the bound
    lets log std move by at most ~sqrt(epsilon_stddev) per target period (see Config).

    Args:
      online, target: Gaussians with `(B, A)` leaves; `target` carries no gradient.
      samples: pre-squash actions `(N, B, A)` drawn from `target`.
      weights: E-step weights `(N, B)`.
      alpha_mean, alpha_stddev: multipliers `(A,)`.
    """
    chex.assert_rank([samples, weights], [3, 2])
    target = jax.tree.map(jax.lax.stop_gradient, target)
    fixed_std = Gaussian(online.mean, target.std)
    fixed_mean = Gaussian(target.mean, online.std)
    nll_mean = -jnp.mean(jnp.sum(weights * gaussian_log_prob(samples, fixed_std), axis=0))
    nll_std = -jnp.mean(jnp.sum(weights * gaussian_log_prob(samples, fixed_mean), axis=0))
    kl_mean = gaussian_kl(target, fixed_std)  # (B, A)
    kl_std = gaussian_kl(target, fixed_mean)
    penalty_mean, dual_mean = kl_penalty_and_dual_loss(kl_mean, alpha_mean, epsilon_mean)
    penalty_std, dual_std = kl_penalty_and_dual_loss(kl_std, alpha_stddev, epsilon_stddev)
    loss = nll_mean + nll_std + penalty_mean + penalty_std + dual_mean + dual_std
    return loss, MStepStats(kl_mean=kl_mean.mean(0), kl_stddev=kl_std.mean(0),
                            nll=nll_mean + nll_std)


class PolicyStats(NamedTuple):
    e_step: EStepStats
    m_step: MStepStats
    temperature: jax.Array
    alpha_mean: jax.Array  # mean over A
    alpha_stddev: jax.Array
    std: jax.Array  # online pre-squash std, mean over B and A (`train/policy_std`)


def policy_loss(policy_params: Params, dual: DualParams, obs: jax.Array, target: Gaussian,
                samples: jax.Array, q_values: jax.Array, networks: Networks, epsilon: float,
                epsilon_mean: float, epsilon_stddev: float) -> tuple[jax.Array, PolicyStats]:
    """E-step + M-step + all dual losses, differentiable in (policy_params, dual).

    Stop-gradients route each term: the temperature dual only reaches eta, the KL dual
    terms only the alphas, the likelihood and penalties only the policy (acme's layout).

    Args:
      obs: `(B, D)` states; target: pi_target at obs; samples: `(N, B, A)` from target;
      q_values: `(N, B)` target-critic values of squash(samples).
    """
    temperature, alpha_mean, alpha_stddev = dual_values(dual)
    weights, temperature_loss, e_stats = e_step(q_values, temperature, epsilon)
    online = policy_gaussian(networks, policy_params, obs)
    m_loss, m_stats = m_step_loss(online, target, samples, weights, alpha_mean, alpha_stddev,
                                  epsilon_mean, epsilon_stddev)
    stats = PolicyStats(e_step=e_stats, m_step=m_stats, temperature=temperature,
                        alpha_mean=alpha_mean.mean(), alpha_stddev=alpha_stddev.mean(),
                        std=online.std.mean())
    return m_loss + temperature_loss, stats
