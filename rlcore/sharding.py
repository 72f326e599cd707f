"""Device mesh helpers: one data axis; env batches, replay and sampled batches split along it.

Data parallelism the GSPMD way (no pmap, no shard_map): the training iteration is the same
function on 1 or N devices, jitted with shardings. Every array whose leading axis is a
batch (env states: `(num_envs, ...)`; replay leaves: `(capacity, ...)`; sampled batches:
`(batch_size, ...)`) is split along the mesh's `data` axis; parameters, optimiser states,
counters and keys are replicated. Gradients of a loss averaged over a sharded batch with
replicated parameters are then averaged across devices by the all-reduce XLA inserts, so the
N-device run computes what the 1-device run computes, up to float summation order.

    mesh = make_mesh(4)                                   # the first 4 of jax.devices()
    state = jax.device_put(state, loop_state_shardings(state, mesh))
    step = jax.jit(step, in_shardings=..., out_shardings=...)

On CPU, `XLA_FLAGS=--xla_force_host_platform_device_count=4` (set before JAX is imported)
gives 4 host devices to try this on.

Multi-host (several machines, each with its accelerators): every process runs the same
program and calls, before any other JAX call,

    jax.distributed.initialize()   # or (coordinator_address="host0:1234",
                                   #     num_processes=2, process_id=i) where not auto-detected

after which `jax.devices()` lists the devices of every process and `make_mesh(None)` spans
them all; each process must use the same seed and config, so the replicated initial state
agrees everywhere, and only a process's own shards live in its memory. (Tested here with
several host devices in one process only.)
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None, axis_name: str = DATA_AXIS) -> Mesh:
    """A 1-D mesh over the first `num_devices` of `jax.devices()` (None: all of them).

    Raises:
      ValueError: more devices asked for than exist, or fewer than one.
    """
    devices = jax.devices()
    if num_devices is None:
        num_devices = len(devices)
    if not 1 <= num_devices <= len(devices):
        raise ValueError(
            f"devices={num_devices} asked for, but JAX sees {len(devices)} device(s) "
            f"({devices[0].platform}); on CPU set XLA_FLAGS="
            f"--xla_force_host_platform_device_count=N before JAX is imported.")
    return Mesh(np.asarray(devices[:num_devices]), (axis_name,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of a value every device holds whole (parameters, keys, counters)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, axis_name: str = DATA_AXIS) -> NamedSharding:
    """The sharding of an array split along its leading (batch) axis."""
    return NamedSharding(mesh, PartitionSpec(axis_name))


def check_divisible(name: str, size: int, mesh: Mesh) -> None:
    """Raises a ValueError unless `size` splits evenly over the mesh's devices."""
    num_devices = mesh.devices.size
    if size % num_devices:
        raise ValueError(f"{name}={size} must be divisible by the number of devices "
                         f"({num_devices}) to split it evenly across them.")


def _leading_axis_sharding(mesh: Mesh):
    split, whole = batch_sharded(mesh), replicated(mesh)
    return lambda x: split if np.ndim(x) >= 1 else whole


def batch_shardings(tree: Any, mesh: Mesh) -> Any:
    """Shardings for a pytree of batched leaves: leading axis split, scalars replicated."""
    return jax.tree.map(_leading_axis_sharding(mesh), tree)


def replicated_shardings(tree: Any, mesh: Mesh) -> Any:
    return jax.tree.map(lambda _: replicated(mesh), tree)


def shard_batch(tree: Any, mesh: Mesh) -> Any:
    """Places a pytree of `(B, ...)` leaves with B split across the mesh's devices."""
    return jax.device_put(tree, batch_shardings(tree, mesh))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places a copy of every leaf on every device of the mesh."""
    return jax.device_put(tree, replicated_shardings(tree, mesh))


def constrain_batch(tree: Any, mesh: Mesh) -> Any:
    """Inside jit: asks XLA to keep a batch (e.g. one sampled from replay) split along its
    leading axis, so the loss and its gradient are computed data-parallel."""
    return jax.lax.with_sharding_constraint(tree, batch_shardings(tree, mesh))


def loop_state_shardings(loop_state: Any, mesh: Mesh) -> Any:
    """Shardings for an `rlcore.loop.LoopState`.

    Env states and the replay buffer's data (leading axes num_envs and capacity) are split;
    everything else (parameters, optimiser and normaliser states, the buffer's positions,
    counters, the key) is replicated.
    """
    shardings = replicated_shardings(loop_state, mesh)
    ts = loop_state.training_state
    buffer_data = batch_shardings(ts.buffer.data, mesh)
    shardings = shardings.replace(
        env_state=batch_shardings(loop_state.env_state, mesh),
        training_state=shardings.training_state.replace(
            buffer=shardings.training_state.buffer.replace(data=buffer_data)))
    return shardings


def check_loop_divisible(config: Any, mesh: Mesh) -> None:
    """The off-policy loop's batch axes must split evenly: num_envs, batch_size and
    replay_capacity (fields of `rlcore.config.OffPolicyConfig`)."""
    for name in ("num_envs", "batch_size", "replay_capacity"):
        check_divisible(name, getattr(config, name), mesh)
