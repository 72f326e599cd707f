"""One optimiser step on a loss, shared by every learner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax


def make_gradient_step(loss_fn: Callable[..., tuple[jax.Array, Any]],
                       optimizer: optax.GradientTransformation, pmap_axis_name: str | None = None
                       ) -> Callable:
    """Returns `step(params, opt_state, *args) -> (loss, aux, params, opt_state)`.

    `loss_fn(params, *args) -> (loss, aux)`. Where `pmap_axis_name` is given the gradients
    are averaged over that named axis (data-parallel training).
    """
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(params, opt_state, *args):
        (loss, aux), grads = grad_fn(params, *args)
        if pmap_axis_name is not None:
            grads = jax.lax.pmean(grads, pmap_axis_name)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return loss, aux, optax.apply_updates(params, updates), opt_state

    return step
