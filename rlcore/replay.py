"""A fixed-capacity ring replay buffer as pure functions over a pytree of arrays.

`init(example, capacity)` allocates `(capacity, ...)` for every leaf of `example` (one
unbatched item, e.g. a `Transition`); `add` writes a whole batch `(B, ...)` at once,
wrapping around; `sample` draws uniformly among the filled slots.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayState:
    data: Any  # pytree with leaves (capacity, ...)
    insert_position: jax.Array  # int32, next slot to write
    size: jax.Array  # int32, number of filled slots (<= capacity)

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def init(example: Any, capacity: int) -> ReplayState:
    """An empty buffer for items shaped like `example` (no leading batch axis)."""
    if capacity <= 0:
        raise ValueError(f"replay capacity must be > 0, got {capacity}.")
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
    zero = jnp.zeros((), jnp.int32)
    return ReplayState(data=data, insert_position=zero, size=zero)


def add(state: ReplayState, batch: Any) -> ReplayState:
    """Writes `batch` (leaves `(B, ...)`, B <= capacity) at the insert position, wrapping."""
    capacity = state.capacity
    batch_size = jax.tree.leaves(batch)[0].shape[0]
    if batch_size > capacity:
        raise ValueError(f"cannot add {batch_size} items to a buffer of capacity {capacity}.")
    indices = (state.insert_position + jnp.arange(batch_size)) % capacity
    data = jax.tree.map(lambda buf, x: buf.at[indices].set(x.astype(buf.dtype)), state.data, batch)
    return ReplayState(
        data=data,
        insert_position=(state.insert_position + batch_size) % capacity,
        size=jnp.minimum(state.size + batch_size, capacity),
    )


def sample(state: ReplayState, key: jax.Array, batch_size: int) -> Any:
    """`batch_size` items drawn uniformly with replacement from the filled slots."""
    indices = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
    return jax.tree.map(lambda buf: buf[indices], state.data)
