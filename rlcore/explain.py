"""Input attribution for MLP policies: layer-wise relevance propagation and gradient x input.

LRP with the epsilon rule (Bach et al., PLoS ONE 2015; Montavon et al., "Layer-wise relevance
propagation: an overview", 2019, eq. 4): for a dense layer z_k = sum_j a_j w_jk + b_k with
relevance R_k of its outputs, the inputs receive

    R_j = sum_k a_j w_jk / (z_k + eps * sign(z_k)) * R_k.

Starting from R = the explained output itself, relevance flows down to the inputs. With zero
biases and eps -> 0 the relevances sum to the output (conservation); biases and eps absorb the
rest. For a ReLU network with zero biases, LRP-0 equals gradient x input, the check used here.

Shapes: `obs` is `(D,)` or `(B, D)`; relevances have the same shape. `params` is a flax params
dict of an `rlcore.networks.MLP` (layers `dense_0`, `dense_1`, ... with ReLU between them).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def dense_layers(params) -> list[tuple[jax.Array, jax.Array]]:
    """`[(kernel (D_in, D_out), bias (D_out,)), ...]` of an MLP's params, input layer first."""
    layers = params["params"] if "params" in params else params
    names = sorted(layers, key=lambda n: int(n.rsplit("_", 1)[1]))
    return [(layers[n]["kernel"], layers[n]["bias"]) for n in names]


def _forward(layers, x):
    """Activations entering each layer and the final output (ReLU between layers)."""
    inputs = []
    for i, (w, b) in enumerate(layers):
        inputs.append(x)
        x = x @ w + b
        if i < len(layers) - 1:
            x = jax.nn.relu(x)
    return inputs, x


def lrp_epsilon(params, obs: jax.Array, output_index: int = 0, epsilon: float = 1e-6
                ) -> jax.Array:
    """Relevance of each input to output `output_index` (for a policy: the pre-squash mean of
    the first action dimension), epsilon rule in every layer."""
    layers = dense_layers(params)
    inputs, out = _forward(layers, obs)
    relevance = jnp.zeros_like(out).at[..., output_index].set(out[..., output_index])
    for (w, b), a in zip(reversed(layers), reversed(inputs)):
        z = a @ w + b
        stabilised = z + epsilon * jnp.where(z >= 0, 1.0, -1.0)
        s = relevance / stabilised
        relevance = a * (s @ w.T)
    return relevance


def gradient_x_input(apply: Callable, params, obs: jax.Array, output_index: int = 0
                     ) -> jax.Array:
    """d output / d obs * obs, for `apply(params, obs) -> (..., outputs)`."""

    def out(x):
        return apply(params, x)[..., output_index].sum()

    return jax.grad(out)(obs) * obs


def group_relevance(relevance: jax.Array, groups: dict[str, slice]) -> dict[str, jax.Array]:
    """Sums relevances over named slices of the observation (e.g. CGM history, insulin)."""
    return {name: relevance[..., s].sum(-1) for name, s in groups.items()}
