"""Learned dynamics shared by GrBAL, ReBAL, MB and MB+DE (Nagabandi, Clavera et al. 2019).

The model predicts the *normalised state change* `(s' - s - mu_delta) / sigma_delta` from
normalised state and action (Sec. 4 of the paper; learning_to_adapt's `MetaMLPDynamicsModel`).
An algorithm is an `AdaptiveDynamics`: meta-parameters, an `adapt` map from the past M
transitions to model parameters, and a one-step predictor. Adapting from a context whose
mask is all zero gives the unadapted model, so one code path serves both model errors.

Axis letters: M context (past) transitions, K target (future) transitions, T time,
B batch (segments or envs), C buffer capacity in trajectories, D obs size, A action size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct

from rlcore.networks import FeedForwardNetwork, make_mlp

# ----------------------------------------------------------------------------- normalisers


@struct.dataclass
class Normalizer:
    """Per-dimension mean and std of states `(D,)`, actions `(A,)` and state deltas `(D,)`."""

    obs_mean: jax.Array
    obs_std: jax.Array
    action_mean: jax.Array
    action_std: jax.Array
    delta_mean: jax.Array
    delta_std: jax.Array


def identity_normalizer(obs_size: int, action_size: int) -> Normalizer:
    """Zero means, unit stds: the model then works in env units."""
    zeros, ones = jnp.zeros((obs_size,)), jnp.ones((obs_size,))
    return Normalizer(obs_mean=zeros, obs_std=ones, action_mean=jnp.zeros((action_size,)),
                      action_std=jnp.ones((action_size,)), delta_mean=zeros, delta_std=ones)


def fit_normalizer(obs: jax.Array, action: jax.Array, next_obs: jax.Array,
                   mask: jax.Array | None = None, min_std: float = 1e-6) -> Normalizer:
    """Statistics of transitions `(..., D)`, `(..., A)`, `(..., D)`; `mask (...)` weights rows.

    Recomputed from all data before each round of model fitting, as learning_to_adapt does.
    """
    obs = obs.reshape(-1, obs.shape[-1])
    action = action.reshape(-1, action.shape[-1])
    delta = next_obs.reshape(obs.shape) - obs
    w = jnp.ones(obs.shape[0]) if mask is None else mask.reshape(-1).astype(jnp.float32)
    w = w / jnp.maximum(w.sum(), 1.0)

    def stats(x):
        mean = (w[:, None] * x).sum(0)
        var = (w[:, None] * (x - mean) ** 2).sum(0)
        return mean, jnp.sqrt(jnp.maximum(var, min_std**2))

    (om, os_), (am, as_), (dm, ds) = stats(obs), stats(action), stats(delta)
    return Normalizer(obs_mean=om, obs_std=os_, action_mean=am, action_std=as_,
                      delta_mean=dm, delta_std=ds)


def normalize_inputs(norm: Normalizer, obs: jax.Array, action: jax.Array
                     ) -> tuple[jax.Array, jax.Array]:
    return (obs - norm.obs_mean) / norm.obs_std, (action - norm.action_mean) / norm.action_std


def normalize_delta(norm: Normalizer, obs: jax.Array, next_obs: jax.Array) -> jax.Array:
    return (next_obs - obs - norm.delta_mean) / norm.delta_std


def denormalize_delta(norm: Normalizer, delta_n: jax.Array) -> jax.Array:
    return delta_n * norm.delta_std + norm.delta_mean


# ----------------------------------------------------------------------------- data types


class Context(NamedTuple):
    """Transitions with a validity mask: `obs (..., L, D)`, `action (..., L, A)`,
    `next_obs (..., L, D)`, `mask (..., L)` (1 for a real transition, 0 for padding)."""

    obs: jax.Array
    action: jax.Array
    next_obs: jax.Array
    mask: jax.Array


def split_segment(segment: Context, num_past: int) -> tuple[Context, Context]:
    """A segment of M + K consecutive transitions -> (past M, future K)."""
    past = jax.tree.map(lambda x: x[..., :num_past, :] if x.ndim > segment.mask.ndim
                        else x[..., :num_past], segment)
    future = jax.tree.map(lambda x: x[..., num_past:, :] if x.ndim > segment.mask.ndim
                          else x[..., num_past:], segment)
    return past, future


def empty_context(num_past: int, obs_size: int, action_size: int) -> Context:
    """M padding transitions (mask 0): adapting from it gives the unadapted model."""
    return Context(obs=jnp.zeros((num_past, obs_size)), action=jnp.zeros((num_past, action_size)),
                   next_obs=jnp.zeros((num_past, obs_size)), mask=jnp.zeros((num_past,)))


def push_context(context: Context, obs: jax.Array, action: jax.Array, next_obs: jax.Array,
                 valid: jax.Array) -> Context:
    """Drops the oldest of the M transitions and appends the newest (one env, no batch axis)."""
    new = Context(obs=obs, action=action, next_obs=next_obs, mask=valid.astype(jnp.float32))
    return jax.tree.map(lambda h, x: jnp.concatenate([h[1:], x[None]], axis=0), context, new)


def truncate_context(context: Context, key: jax.Array, min_length: int = 0) -> Context:
    """Keeps the most recent L of the M rows of `context (M, ...)`, L uniform in
    `min_length`..M; older rows are masked out (the loop's context holds the last steps at
    its end, so an episode's first steps see exactly such a right-aligned short context)."""
    num_past = context.mask.shape[-1]
    keep = jax.random.randint(key, (), min_length, num_past + 1)
    recent = jnp.arange(num_past) >= num_past - keep
    return context._replace(mask=context.mask * recent)


def masked_delta_mse(pred_delta_n: jax.Array, target_delta_n: jax.Array, mask: jax.Array
                     ) -> jax.Array:
    """Mean over valid rows of the mean squared error over the D state dimensions."""
    per_row = jnp.mean((pred_delta_n - target_delta_n) ** 2, axis=-1)
    return jnp.sum(jnp.where(mask > 0, per_row, 0.0)) / jnp.maximum(jnp.sum(mask), 1.0)


# ----------------------------------------------------------------------------- models


class AdaptiveDynamics(NamedTuple):
    """The pure functions of one algorithm's model.

    init(key) -> params (meta-parameters, what the outer optimiser trains)
    adapt(params, normalizer, context (M,...)) -> adapted model (the paper's theta' or the
      recurrent state); an all-zero mask gives the unadapted model.
    predict(adapted, normalizer, obs (D,), action (A,)) -> normalised delta (D,)
    loss(params, normalizer, segments (B, M+K, ...), key) -> (loss, stats dict)
    """

    init: Callable[[jax.Array], Any]
    adapt: Callable[..., Any]
    predict: Callable[..., jax.Array]
    loss: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]


def make_delta_mlp(obs_size: int, action_size: int, hidden_sizes: Sequence[int],
                   context_size: int = 0) -> FeedForwardNetwork:
    """MLP `(obs_n, action_n[, h]) -> delta_n`; `context_size` extra inputs (ReBAL's state)."""
    return make_mlp(obs_size + action_size + context_size, hidden_sizes, obs_size)


def mlp_delta(network: FeedForwardNetwork, params: Any, norm: Normalizer, obs: jax.Array,
              action: jax.Array) -> jax.Array:
    obs_n, action_n = normalize_inputs(norm, obs, action)
    return network.apply(params, jnp.concatenate([obs_n, action_n], axis=-1))


def mlp_context_loss(network: FeedForwardNetwork, params: Any, norm: Normalizer,
                     context: Context) -> jax.Array:
    """Masked MSE of the MLP's normalised deltas on a context `(L, ...)`.

    Padding rows are zeroed before the MLP, so whatever they hold (even NaN) gives exactly
    zero gradient: with no valid row the loss is 0 and its gradient is 0.
    """
    valid = context.mask > 0
    zero_pad = lambda x: jnp.where(valid[..., None], x, 0.0)  # noqa: E731
    obs, action, next_obs = zero_pad(context.obs), zero_pad(context.action), zero_pad(
        context.next_obs)
    pred = mlp_delta(network, params, norm, obs, action)
    return masked_delta_mse(pred, normalize_delta(norm, obs, next_obs), context.mask)


def sgd_adapt(network: FeedForwardNetwork, params: Any, step_size: Any, norm: Normalizer,
              context: Context, num_steps: int = 1, first_order: bool = False) -> Any:
    """`num_steps` gradient steps on the context loss: theta' = theta - step_size * grad L(theta).

    GrBAL's update rule u_psi (Nagabandi, Clavera et al. 2019, Sec. 4.1; MAML's inner step) with
    `step_size` a pytree like `params` (the learned per-parameter psi, as Meta-SGD), or MB+DE's
    dynamic evaluation with a scalar. Gradients flow through the step (second-order MAML)
    unless `first_order`. The context loss is a masked *mean*, so a context with one valid
    row takes as large a step as a full one (from that row's loss alone); an all-zero mask
    gives exactly zero gradients: theta' = theta (padding contents, NaN included, never enter).
    """
    if not jax.tree.structure(step_size) == jax.tree.structure(params):
        step_size = jax.tree.map(lambda _: step_size, params)
    grad_fn = jax.grad(lambda p: mlp_context_loss(network, p, norm, context))

    def body(theta, _):
        grads = grad_fn(theta)
        if first_order:
            grads = jax.lax.stop_gradient(grads)
        return jax.tree.map(lambda t, s, g: t - s * g, theta, step_size, grads), None

    theta, _ = jax.lax.scan(body, params, None, length=num_steps)
    return theta


def next_obs_fn(model: AdaptiveDynamics) -> Callable:
    """`step(adapted_and_norm, obs (D,), action (A,)) -> next obs (D,)`, the planner's model."""

    def step(model_state, obs, action):
        adapted, norm = model_state
        return obs + denormalize_delta(norm, model.predict(adapted, norm, obs, action))

    return step


def prediction_errors(model: AdaptiveDynamics, params: Any, norm: Normalizer,
                      segments: Context, num_past: int) -> tuple[jax.Array, jax.Array]:
    """(adapted, unadapted) one-step errors on the K future transitions of `segments (B, M+K)`.

    Errors are MSEs of normalised deltas, averaged over the valid future transitions of every
    segment: adapted from the segment's past M transitions vs from an empty context.
    """
    past, future = split_segment(segments, num_past)
    chex.assert_rank(future.obs, 3)

    def error(context, target):
        adapted = model.adapt(params, norm, context)
        pred = jax.vmap(lambda o, a: model.predict(adapted, norm, o, a))(target.obs, target.action)
        return masked_delta_mse(pred, normalize_delta(norm, target.obs, target.next_obs),
                                target.mask)

    empty = past._replace(mask=jnp.zeros_like(past.mask))
    adapted = jax.vmap(error)(past, future)
    unadapted = jax.vmap(error)(empty, future)
    weight = (future.mask.sum(-1) > 0).astype(jnp.float32)
    mean = lambda e: jnp.sum(e * weight) / jnp.maximum(weight.sum(), 1.0)  # noqa: E731
    return mean(adapted), mean(unadapted)


def first_steps_contexts(traj: Context, num_past: int) -> tuple[Context, Context]:
    """The contexts and targets of an episode's first M steps, as the loop builds them.

    For trajectories `(B, T, ...)` (T >= M), step t < M adapts from the t transitions before
    it, right-aligned in an M-row context (rows M-t..M-1 hold transitions 0..t-1; the rest
    are padding, as `push_context` leaves them from `empty_context`), and its target is
    transition t. Returns contexts `(B, M, M, ...)` (step, row) and targets `(B, M, ...)`.
    """
    chex.assert_rank(traj.mask, 2)
    num_steps = traj.mask.shape[1]
    if num_steps < num_past:
        raise ValueError(f"trajectories of {num_steps} steps are shorter than M = {num_past}")
    step = jnp.arange(num_past)[:, None]
    src = step - num_past + jnp.arange(num_past)[None, :]  # (M, M): transition in each row
    real = (src >= 0).astype(jnp.float32)
    idx = jnp.maximum(src, 0)
    contexts = jax.tree.map(lambda x: x[:, idx], traj)
    contexts = contexts._replace(mask=contexts.mask * real)
    targets = jax.tree.map(lambda x: x[:, :num_past], traj)
    return contexts, targets


def first_steps_error_table(model: AdaptiveDynamics, params: Any, norm: Normalizer,
                            traj: Context, num_past: int
                            ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One-step errors `(B, M)` over an episode's first M steps: (adapted, unadapted, valid).

    Step t < M is predicted by the model adapted from the t transitions before it (0..M-1,
    see `first_steps_contexts`) and by the unadapted model (empty context); errors are the
    MSE of normalised deltas of transition t; `valid` is its mask (0 after a termination).
    """
    contexts, targets = first_steps_contexts(traj, num_past)

    def error(context, target):
        adapted = model.adapt(params, norm, context)
        pred = model.predict(adapted, norm, target.obs, target.action)
        return jnp.mean((pred - normalize_delta(norm, target.obs, target.next_obs)) ** 2)

    def both(context, target):
        empty = context._replace(mask=jnp.zeros_like(context.mask))
        return error(context, target), error(empty, target)

    adapted, unadapted = jax.vmap(jax.vmap(both))(contexts, targets)
    valid = (targets.mask > 0).astype(jnp.float32)
    # A padding target may hold anything; its error counts for nothing and must not be NaN.
    clean = lambda e: jnp.where(valid > 0, e, 0.0)  # noqa: E731
    return clean(adapted), clean(unadapted), valid


def first_steps_errors(model: AdaptiveDynamics, params: Any, norm: Normalizer, traj: Context,
                       num_past: int) -> tuple[jax.Array, jax.Array]:
    """(adapted, unadapted) one-step error over the first M steps of trajectories `(B, T)`.

    The short-context counterpart of `prediction_errors`: each step t < M adapts from the t
    transitions before it (0..M-1), as at the start of an episode in `mb.loop`; means over
    the valid (episode, step) pairs of the MSE of normalised deltas. Pure and jittable
    (`model` and `num_past` static).
    """
    adapted, unadapted, valid = first_steps_error_table(model, params, norm, traj, num_past)
    mean = lambda e: jnp.sum(e * valid) / jnp.maximum(valid.sum(), 1.0)  # noqa: E731
    return mean(adapted), mean(unadapted)


def trajectory_windows(traj: Context, length: int, stride: int) -> Context:
    """Windows `(B * W, length, ...)` of trajectories `(B, T, ...)` starting every `stride`."""
    num_steps = traj.mask.shape[1]
    starts = jnp.arange(0, num_steps - length + 1, stride)
    idx = starts[:, None] + jnp.arange(length)[None, :]  # (W, length)
    out = jax.tree.map(lambda x: x[:, idx], traj)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), out)


# ----------------------------------------------------------------------------- trajectory data


@struct.dataclass
class TrajectoryBuffer:
    """A ring of whole trajectories `(C, T, ...)`: windows of consecutive steps stay inside one
    episode (one task), which meta-training on segments needs."""

    data: Context  # (C, T, ...)
    count: jax.Array  # int32, trajectories written so far


def buffer_init(capacity: int, num_steps: int, obs_size: int, action_size: int
                ) -> TrajectoryBuffer:
    z = lambda *s: jnp.zeros((capacity, num_steps, *s), jnp.float32)  # noqa: E731
    return TrajectoryBuffer(data=Context(obs=z(obs_size), action=z(action_size),
                                         next_obs=z(obs_size), mask=z()),
                            count=jnp.zeros((), jnp.int32))


def buffer_add(buffer: TrajectoryBuffer, traj: Context) -> TrajectoryBuffer:
    """Writes trajectories `(B, T, ...)`, overwriting the oldest when full."""
    capacity = buffer.data.mask.shape[0]
    idx = (buffer.count + jnp.arange(traj.mask.shape[0])) % capacity
    data = jax.tree.map(lambda d, x: d.at[idx].set(x.astype(d.dtype)), buffer.data, traj)
    return TrajectoryBuffer(data=data, count=buffer.count + traj.mask.shape[0])


def buffer_filled(buffer: TrajectoryBuffer) -> jax.Array:
    """`(C,)` 1.0 for the slots that hold a trajectory."""
    capacity = buffer.data.mask.shape[0]
    return (jnp.arange(capacity) < buffer.count).astype(jnp.float32)


def buffer_normalizer(buffer: TrajectoryBuffer) -> Normalizer:
    d = buffer.data
    return fit_normalizer(d.obs, d.action, d.next_obs, d.mask * buffer_filled(buffer)[:, None])


def sample_segments(buffer: TrajectoryBuffer, key: jax.Array, batch_size: int, length: int
                    ) -> Context:
    """`batch_size` windows of `length` consecutive steps from stored trajectories."""
    capacity, num_steps = buffer.data.mask.shape
    key_traj, key_start = jax.random.split(key)
    num_filled = jnp.clip(buffer.count, 1, capacity)
    traj = jax.random.randint(key_traj, (batch_size,), 0, num_filled)
    start = jax.random.randint(key_start, (batch_size,), 0, num_steps - length + 1)
    idx = start[:, None] + jnp.arange(length)[None, :]
    return jax.tree.map(lambda x: x[traj[:, None], idx], buffer.data)
