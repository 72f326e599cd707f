"""Tanh-squashed Gaussian: log-density against the change-of-variables formula, numerically."""

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
    # Invert the squash, then the density of u under N(mean, std) divided by |da/du|,
    # with the derivative taken by central finite differences.
    y = 2 * (a - low) / (high - low) - 1
    u = np.arctanh(y)

    def squash(u):
        return low + (np.tanh(u) + 1) / 2 * (high - low)

    h = 1e-6
    jac = (squash(u + h) - squash(u - h)) / (2 * h)
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
