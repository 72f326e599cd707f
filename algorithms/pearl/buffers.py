"""Per-task ring buffers: one `rlcore.replay.ReplayState` with a leading task axis.

Leaves are `(T, capacity, ...)`, `insert_position` and `size` are `(T,)`. Writes and reads
index the selected tasks' rows directly (no copy of a task's whole buffer), so they stay cheap
inside jit when only a few of many tasks are touched. PEARL keeps two of these (section 4.2):
an RL buffer per task, and an encoder buffer per task that is cleared whenever the task is
sampled for collection, so contexts come from recent data.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rlcore import replay
from rlcore.replay import ReplayState


def init(example: Any, num_tasks: int, capacity: int) -> ReplayState:
    """Empty buffers of `capacity` items shaped like `example` for each of `num_tasks` tasks."""
    if num_tasks <= 0:
        raise ValueError(f"num_tasks must be > 0, got {num_tasks}.")
    single = replay.init(example, capacity)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (num_tasks, *x.shape)).copy(), single)


def capacity(buffers: ReplayState) -> int:
    return jax.tree.leaves(buffers.data)[0].shape[1]


def add(buffers: ReplayState, task_ids: jax.Array, batch: Any) -> ReplayState:
    """Writes `batch` (leaves `(K, N, ...)`) into the buffers of `task_ids` `(K,)` (distinct).

    Each task's items go at its own insert position, wrapping around its ring.
    """
    cap = capacity(buffers)
    num_items = jax.tree.leaves(batch)[0].shape[1]
    if num_items > cap:
        raise ValueError(f"cannot add {num_items} items per task to a capacity of {cap}.")
    start = buffers.insert_position[task_ids]  # (K,)
    slots = (start[:, None] + jnp.arange(num_items)[None, :]) % cap  # (K, N)
    rows = task_ids[:, None]
    data = jax.tree.map(lambda buf, x: buf.at[rows, slots].set(x.astype(buf.dtype)),
                        buffers.data, batch)
    return ReplayState(
        data=data,
        insert_position=buffers.insert_position.at[task_ids].set((start + num_items) % cap),
        size=buffers.size.at[task_ids].set(jnp.minimum(buffers.size[task_ids] + num_items, cap)),
    )


def clear(buffers: ReplayState, task_ids: jax.Array) -> ReplayState:
    """Empties the buffers of `task_ids` (the data stays but can no longer be sampled)."""
    return buffers.replace(insert_position=buffers.insert_position.at[task_ids].set(0),
                           size=buffers.size.at[task_ids].set(0))


def sample(buffers: ReplayState, task_ids: jax.Array, key: jax.Array, num_items: int) -> Any:
    """`num_items` items per task, uniformly with replacement among its filled slots.

    Returns leaves `(K, num_items, ...)` for `task_ids` `(K,)`.
    """
    sizes = jnp.maximum(buffers.size[task_ids], 1)
    slots = jax.random.randint(key, (task_ids.shape[0], num_items), 0, sizes[:, None])
    rows = task_ids[:, None]
    return jax.tree.map(lambda buf: buf[rows, slots], buffers.data)
