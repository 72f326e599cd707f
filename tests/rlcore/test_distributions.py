"""Tanh-squashed Gaussian: log-density against the change-of-variables formula, numerically.

Log-densities refer to the normalised action in [-1, 1]^A, whatever the env's bounds."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from rlcore import distributions


def test_log_prob_matches_numerical_change_of_variables():
    low, high = np.array([-2.0, 0.0]), np.array([2.0, 5.0])
    params = jnp.array([[0.3, -0.7, 0.2, 1.1]])
    dist = distributions.tanh_gaussian(params, low, high)
    action, log_prob = dist.sample_and_log_prob(jax.random.key(0))
    mean, std = np.asarray(dist.mean[0], np.float64), np.asarray(dist.std[0], np.float64)
    a = np.asarray(action[0], np.float64)
    # Invert the env scaling and the squash, then the density of u under N(mean, std)
    # divided by |dx/du| of the normalised action x = tanh(u), by central differences.
    y = 2 * (a - low) / (high - low) - 1
    u = np.arctanh(y)
    h = 1e-6
    jac = (np.tanh(u + h) - np.tanh(u - h)) / (2 * h)
    expected = np.sum(stats.norm.logpdf(u, mean, std) - np.log(np.abs(jac)))
    np.testing.assert_allclose(log_prob[0], expected, rtol=1e-3, atol=1e-3)


def test_density_integrates_to_one_in_1d():
    dist = distributions.tanh_gaussian(jnp.array([[0.5, 0.2]]), np.array([-1.0]), np.array([1.0]))
    grid = np.linspace(-7, 7, 200_001)
    u = jnp.asarray(grid)[:, None]
    log_p = dist.log_prob_pre_squash(u)
    a = np.tanh(grid)
    mass = np.trapezoid(np.exp(np.asarray(log_p, np.float64)), a)
    np.testing.assert_allclose(mass, 1.0, atol=2e-3)


def test_mode_and_bounds():
    dist = distributions.tanh_gaussian(jnp.zeros((5, 2)), np.array([-1.0]), np.array([3.0]))
    np.testing.assert_allclose(dist.mode(), 1.0)
    samples, _ = dist.sample_and_log_prob(jax.random.key(1))
    assert np.all((samples >= -1.0) & (samples <= 3.0))


def test_log_prob_does_not_depend_on_the_action_box():
    """Same network output, two boxes (0-30 U/h and [-1, 1]): same sample up to scaling,
    same log-density, so SAC's entropy target means the same for both."""
    params = jnp.array([[0.4, -1.0, 0.1, 0.6]])
    wide = distributions.tanh_gaussian(params, np.array([0.0, 0.0]), np.array([30.0, 6.0]))
    unit = distributions.tanh_gaussian(params, np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    key = jax.random.key(3)
    a_wide, lp_wide = wide.sample_and_log_prob(jax.random.clone(key))
    a_unit, lp_unit = unit.sample_and_log_prob(jax.random.clone(key))
    np.testing.assert_allclose(lp_wide, lp_unit, rtol=1e-6)
    np.testing.assert_allclose(a_wide, (a_unit + 1) / 2 * jnp.array([30.0, 6.0]), rtol=1e-5)
    # The Monte-Carlo entropy of a policy with mean 0, std softplus(0.55) ~ 1 on 0-30 U/h is
    # the entropy of tanh(N(0, 1)) on [-1, 1] (computed here with numpy), not 2.7 nats
    # (log 15) above it.
    broad = distributions.tanh_gaussian(jnp.tile(jnp.array([[0.0, 0.55]]), (20_000, 1)),
                                        np.array([0.0]), np.array([30.0]))
    _, log_prob = broad.sample_and_log_prob(jax.random.key(4))
    u = np.random.default_rng(0).normal(size=200_000)
    expected = -np.mean(stats.norm.logpdf(u) - np.log(1 - np.tanh(u) ** 2))
    np.testing.assert_allclose(-float(log_prob.mean()), expected, atol=0.05)
