"""What an algorithm hands the training driver: a `Program` of pure functions.

The driver (`driver.train`) owns everything around them: config check, compile, resume,
logging, evaluation, checkpoints, best-policy bookkeeping, progress bar and speed rows. Many
seeds are the same program under `jax.vmap`; several devices the same program under a
sharding. An algorithm's `make_program(env, config, mesh=None)` builds one:

    state = program.init(run_key)                  # eager: key -> state before `start`
    state = program.start(state)                   # jit, donated: collection before learning
    state, chunk_metrics = program.chunk(state)    # jit, donated: one chunk of training
    row = program.summarize(chunk_metrics)         # host: chunk metrics -> {name: float}
    metrics = program.evaluate(state, run_key, i)  # jit: evaluation number i, {name: scalar}

`run_key` is `jax.random.key(seed)`; a program derives every key from it (and from the
evaluation index), so a run is a function of its seed alone and a resumed run continues it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class Program(NamedTuple):
    """One algorithm's training as chunks between evaluations.

    Attributes:
      init: `run_key -> state`, called eagerly (it may do host work, e.g. draw distinct tasks).
      start: `state -> state`, run once before the first chunk (prefill, initial collection).
      chunk: `state -> (state, metrics)`, one compiled chunk between evaluations.
      summarize: host-side reduction of a chunk's metrics (numpy arrays) to one row.
      evaluate: `(state, run_key, eval_index) -> {name: scalar}`; `eval/return` is required.
      policy_params: `state -> params` of the policy (what is exported and selected).
      env_steps: `state -> int32 scalar`, env steps so far.
      num_chunks: chunks in a full run (one evaluation after each).
      env_steps_per_chunk, grad_steps_per_chunk: for the progress bar and the speed rows.
      policy: `policy(params, obs, key, deterministic) -> action` for memoryless policies;
        None where the policy needs more (PEARL's latent z, MPC's context).
      state_shardings: `state -> shardings` placing one run's state on the mesh the program
        was built for (`make_program(..., mesh=...)`); None: the program runs on one device.
      progress_metrics: row entries shown beside the progress bar.
      select_best: keep the policy of the best `eval/return` (`config.select_best_eval`).
    """

    init: Callable[[jax.Array], Any]
    start: Callable[[Any], Any]
    chunk: Callable[[Any], tuple[Any, dict]]
    summarize: Callable[[dict], dict[str, float]]
    evaluate: Callable[[Any, jax.Array, jax.Array], dict]
    policy_params: Callable[[Any], Any]
    env_steps: Callable[[Any], jax.Array]
    num_chunks: int
    env_steps_per_chunk: int
    grad_steps_per_chunk: int
    policy: Callable | None = None
    state_shardings: Callable[[Any], Any] | None = None
    progress_metrics: tuple[str, ...] = ("eval/return",)
    select_best: bool = False
