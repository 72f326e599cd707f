"""LRP and gradient x input against hand computations."""

import jax
import jax.numpy as jnp
import numpy as np

from rlcore import explain
from rlcore.networks import make_mlp


def test_linear_policy_relevance_is_weight_times_input_and_conserves():
    w = jnp.array([[2.0, 0.0], [-1.0, 1.0], [0.5, 3.0]])
    params = {"params": {"dense_0": {"kernel": w, "bias": jnp.zeros(2)}}}
    obs = jnp.array([1.0, 4.0, -2.0])
    relevance = explain.lrp_epsilon(params, obs, output_index=0)
    np.testing.assert_allclose(relevance, obs * w[:, 0], rtol=1e-5)  # analytic attribution
    np.testing.assert_allclose(relevance.sum(), obs @ w[:, 0], rtol=1e-5)  # conservation


def test_relu_mlp_lrp0_equals_gradient_x_input_and_conserves():
    net = make_mlp(6, (16, 16), 2)
    params = net.init(jax.random.key(0))
    # Zero biases: LRP-0 on a ReLU net is exactly gradient x input and conserves the output.
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: jnp.zeros_like(x) if p[-1].key == "bias" else x, params)
    obs = jax.random.normal(jax.random.key(1), (5, 6))
    lrp = explain.lrp_epsilon(params, obs, output_index=1, epsilon=1e-9)
    gxi = explain.gradient_x_input(net.apply, params, obs, output_index=1)
    np.testing.assert_allclose(lrp, gxi, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(lrp.sum(-1), net.apply(params, obs)[:, 1], rtol=1e-3, atol=1e-5)


def test_group_relevance_sums_slices():
    rel = jnp.arange(6.0)
    groups = explain.group_relevance(rel, {"a": slice(0, 2), "b": slice(2, 6)})
    assert float(groups["a"]) == 1.0 and float(groups["b"]) == 14.0
