"""Orbax checkpoints of the whole training state, with resume and corrupt-file fallback.

Typed PRNG keys are stored as their raw key data and re-wrapped on restore, so any pytree
the loop carries (params, optimiser states, replay buffer, env states, keys) round-trips.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_saveable(tree: Any) -> dict[str, Any]:
    """Flat dict of the non-empty leaves (orbax refuses zero-size arrays), keys as raw data."""
    leaves = jax.tree.leaves(tree)
    return {f"{i:05d}": (jax.random.key_data(x) if _is_key(x) else x)
            for i, x in enumerate(leaves) if np.size(x) > 0}


def _from_saved(saved: dict[str, Any], template: Any) -> Any:
    leaves, treedef = jax.tree.flatten(template)
    restored = []
    for i, t in enumerate(leaves):
        x = saved.get(f"{i:05d}", t)
        if _is_key(t) and np.size(t) > 0:
            x = jax.random.wrap_key_data(x, impl=jax.random.key_impl(t))
        restored.append(x)
    return jax.tree.unflatten(treedef, restored)


class Checkpointer:
    """Saves and restores the loop state under `<workdir>/checkpoints/<step>`."""

    def __init__(self, workdir: str, max_to_keep: int = 3, subdir: str = "checkpoints"):
        self.directory = os.path.join(os.path.abspath(workdir), subdir)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any) -> None:
        """Writes `state` for `step` and waits for it: the next jitted call may donate it."""
        self._manager.save(step, args=ocp.args.StandardSave(_to_saveable(state)), force=True)
        self._manager.wait_until_finished()

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, int]:
        """Restores the newest readable checkpoint shaped like `template`.

        A checkpoint that fails to load is reported and the previous one is tried.

        Raises:
          FileNotFoundError: no checkpoint (or none readable) exists.
        """
        steps = [step] if step is not None else self.steps()[::-1]
        if not steps:
            raise FileNotFoundError(f"No checkpoint in {self.directory}.")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_saveable(template))
        errors = []
        for s in steps:
            try:
                saved = self._manager.restore(s, args=ocp.args.StandardRestore(abstract))
            except Exception as err:  # noqa: BLE001 - any unreadable file means "corrupt"
                logging.warning("Checkpoint %d in %s is unreadable (%s); trying the previous one.",
                                s, self.directory, err)
                print(f"WARNING: checkpoint {s} is corrupt or unreadable ({type(err).__name__}); "
                      "falling back to the previous checkpoint.")
                errors.append(f"step {s}: {err}")
                self._quarantine(s)
                continue
            return _from_saved(saved, template), s
        raise FileNotFoundError(
            f"No readable checkpoint in {self.directory}: " + "; ".join(errors))

    def _quarantine(self, step: int) -> None:
        """Moves an unreadable checkpoint aside so the resumed run can write that step again."""
        source = os.path.join(self.directory, str(step))
        target = os.path.join(os.path.dirname(self.directory), "corrupt_checkpoints", str(step))
        if os.path.isdir(source):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.exists(target):
                target = f"{target}.{len(os.listdir(os.path.dirname(target)))}"
            os.rename(source, target)
            print(f"         moved it to {target}")
        self._manager.reload()

    def close(self) -> None:
        self._manager.close()


def save_policy(workdir: str, policy_params: Any, subdir: str = "policy") -> None:
    """Saves policy parameters alone under `<workdir>/<subdir>` (small: no replay), replacing
    an earlier one (a resumed run saves its final policy again)."""
    shutil.rmtree(os.path.join(os.path.abspath(workdir), subdir), ignore_errors=True)
    checkpointer = Checkpointer(workdir, max_to_keep=1, subdir=subdir)
    checkpointer.save(0, policy_params)
    checkpointer.close()


def restore_policy(workdir: str, template: Any, subdir: str = "policy") -> Any:
    """The parameters `save_policy` wrote, shaped like `template`.

    Raises:
      FileNotFoundError: the run directory has no (readable) policy checkpoint.
    """
    if not os.path.isdir(os.path.join(workdir, subdir)):
        raise FileNotFoundError(f"{workdir} has no policy checkpoint ({subdir}/): train first.")
    checkpointer = Checkpointer(workdir, max_to_keep=1, subdir=subdir)
    try:
        return checkpointer.restore(template)[0]
    finally:
        checkpointer.close()


def save_json(path: str, obj: Any) -> None:
    def default(x):
        if isinstance(x, np.generic | np.ndarray):
            return x.tolist()
        return str(x)

    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=default)


def load_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)
