"""Orbax checkpoints of the whole training state, with resume and corrupt-file fallback.

A checkpoint holds the state's leaves by name: each leaf under its key path in the state
(`training_state.params.policy.params.dense_0.kernel`, `env_state.info.reset_key`), so a
restore matches leaves by name and refuses a checkpoint of another structure
(`CheckpointMismatchError`) rather than filling two same-shaped leaves into each other's
places. Typed PRNG keys are
stored as their raw key data and re-wrapped on restore, so any pytree the loop carries
(params, optimiser states, replay buffer, env states, keys) round-trips; zero-size leaves are
not stored (orbax refuses them) and come from the template.

A small JSON `info` dict travels in each checkpoint's orbax metadata (the driver keeps its
evaluation index there), written in the same atomic step as the arrays. Checkpoints written
before leaves were named (leaves flattened to "00000", "00001", ... in tree order, no info)
are still read, matching by position.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

FORMAT = "named_leaves/1"  # custom_metadata["format"] of a checkpoint of named leaves
_LEGACY_NAME = re.compile(r"\d{5}")


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the state it is restored into: a leaf is missing from it, or
    it holds a leaf the state has not, or a leaf's shape or dtype differs (the state's
    structure changed since the checkpoint was written)."""


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _entry_name(entry: Any) -> str:
    """One key-path entry as a name part: a dict key, an attribute or an index, with
    characters other than letters, digits, `_` and `-` replaced by `_`."""
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return re.sub(r"[^A-Za-z0-9_-]", "_", str(getattr(entry, attr)))
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(entry))


def leaf_names(tree: Any) -> list[str]:
    """The name of each leaf of `tree` in `jax.tree.leaves` order: its key path joined by
    dots (`training_state.q_opt_state.0.mu.params.VmapMLP_0.dense_0.kernel`;
    `leaf` for a bare array).

    Raises:
      ValueError: two leaves get one name (dict keys differing only in characters the names
        replace).
    """
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    names = [".".join(_entry_name(e) for e in path) or "leaf" for path in paths]
    if len(set(names)) != len(names):
        seen, twice = set(), []
        for name, path in zip(names, paths):
            if name in seen:
                twice.append(f"{name} ({jax.tree_util.keystr(path)})")
            seen.add(name)
        raise ValueError(f"Leaves share a checkpoint name: {', '.join(twice)}.")
    return names


def _stored(x: Any) -> Any:
    return jax.random.key_data(x) if _is_key(x) else x


def _to_saveable(tree: Any) -> dict[str, Any]:
    """`{name: leaf}` of the non-empty leaves (orbax refuses zero-size arrays), keys as raw
    data."""
    return {name: _stored(x) for name, x in zip(leaf_names(tree), jax.tree.leaves(tree))
            if np.size(x) > 0}


def _to_saveable_legacy(tree: Any) -> dict[str, Any]:
    """The layout before leaves were named: `{"%05d" % position: leaf}`."""
    return {f"{i:05d}": _stored(x) for i, x in enumerate(jax.tree.leaves(tree))
            if np.size(x) > 0}


def _from_saved(saved: dict[str, Any], template: Any, names: list[str]) -> Any:
    """The template's structure filled from `saved[names[i]]` (the template's leaf where a
    name is absent: the zero-size leaves), keys re-wrapped."""
    leaves, treedef = jax.tree.flatten(template)
    restored = []
    for name, t in zip(names, leaves):
        x = saved.get(name, t)
        if _is_key(t) and np.size(t) > 0:
            x = jax.random.wrap_key_data(x, impl=jax.random.key_impl(t))
        restored.append(x)
    return jax.tree.unflatten(treedef, restored)


def _describe(shape, dtype) -> str:
    return f"shape {tuple(shape)} {np.dtype(dtype).name}"


def check_fits(saved: dict[str, Any], expected: dict[str, Any], where: str,
               legacy: bool = False) -> None:
    """Raises `CheckpointMismatchError` naming each leaf (up to five) of `expected` (name ->
    array) missing from or shaped otherwise than in `saved` (name -> shape/dtype metadata),
    and each leaf of `saved` that `expected` has not. With `legacy`, names are positions and
    the message says so."""
    problems = []
    what = "leaf at position" if legacy else "leaf"
    for name, x in expected.items():
        if name not in saved:
            problems.append(f"the state's {what} {name!r} ({_describe(np.shape(x), x.dtype)}) "
                            "is not in the checkpoint")
            continue
        got = saved[name]
        if tuple(got.shape) != tuple(np.shape(x)) or np.dtype(got.dtype) != np.dtype(x.dtype):
            problems.append(f"{what} {name!r} has {_describe(got.shape, got.dtype)} in the "
                            f"checkpoint but {_describe(np.shape(x), x.dtype)} in the state")
    for name in saved:
        if name not in expected:
            problems.append(f"the checkpoint's {what} {name!r} is not in the state")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise CheckpointMismatchError(
            f"{where} does not fit the state it is restored into: " + "; ".join(problems[:5])
            + more + ". The state's structure changed since it was written (other code or "
            "config): restore it with the code that wrote it, or start a new run directory.")


class Checkpointer:
    """Saves and restores the loop state under `<workdir>/checkpoints/<step>`.

    Orbax writes each step into a temporary directory (`<step>.orbax-checkpoint-tmp`) and
    renames it when complete, so a process killed while saving leaves the earlier steps
    intact and a temporary directory that `steps` ignores and the next Checkpointer removes.
    """

    def __init__(self, workdir: str, max_to_keep: int = 3, subdir: str = "checkpoints"):
        self.directory = os.path.join(os.path.abspath(workdir), subdir)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                                 cleanup_tmp_directories=True),
            item_handlers=ocp.StandardCheckpointHandler(),
        )

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, info: dict[str, Any] | None = None) -> None:
        """Writes `state` (and `info`, a small JSON-able dict that `info(step)` returns) for
        `step` and waits for it: the next jitted call may donate it."""
        self._manager.save(step, args=ocp.args.StandardSave(_to_saveable(state)), force=True,
                           custom_metadata={"format": FORMAT, "info": dict(info or {})})
        self._manager.wait_until_finished()

    def info(self, step: int) -> dict[str, Any]:
        """The `info` saved with `step` ({} for a checkpoint written without, or before
        leaves were named)."""
        custom = self._manager.metadata(step).custom_metadata or {}
        return dict(custom.get("info", {})) if custom.get("format") == FORMAT else {}

    def _layout(self, step: int) -> tuple[dict[str, Any], bool]:
        """`({name: shape/dtype metadata}, legacy)` of a saved step; raises when unreadable."""
        custom = self._manager.metadata(step).custom_metadata or {}
        saved = self._manager.item_metadata(step)
        if saved is None:
            raise ValueError("no readable array metadata")
        saved = dict(saved.items())
        legacy = custom.get("format") != FORMAT
        if legacy and not all(_LEGACY_NAME.fullmatch(name) for name in saved):
            # Named leaves without the record saying so: not a checkpoint this module wrote.
            raise ValueError("named leaves but no format record")
        return saved, legacy

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, int]:
        """Restores the newest readable checkpoint (or `step`) into the shape of `template`,
        matching leaves by name (by position in a checkpoint from before leaves were named).

        A checkpoint that fails to load is reported, moved to `corrupt_checkpoints/`, and
        the previous one is tried.

        Returns:
          (the restored tree, its step).

        Raises:
          FileNotFoundError: no checkpoint (or none readable) exists.
          CheckpointMismatchError: the newest readable checkpoint holds other leaves than
            `template` (a name missing on either side, or another shape or dtype), naming them.
        """
        steps = [step] if step is not None else self.steps()[::-1]
        if not steps:
            raise FileNotFoundError(f"No checkpoint in {self.directory}.")
        errors = []
        for s in steps:
            try:
                saved_layout, legacy = self._layout(s)
            except Exception as err:  # noqa: BLE001 - any unreadable file means "corrupt"
                errors.append(self._unreadable(s, err))
                continue
            expected = (_to_saveable_legacy if legacy else _to_saveable)(template)
            check_fits(saved_layout, expected, f"Checkpoint {s} in {self.directory}", legacy)
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, expected)
            try:
                saved = self._manager.restore(s, args=ocp.args.StandardRestore(abstract))
            except Exception as err:  # noqa: BLE001
                errors.append(self._unreadable(s, err))
                continue
            leaves = jax.tree.leaves(template)
            names = ([f"{i:05d}" for i in range(len(leaves))] if legacy
                     else leaf_names(template))
            return _from_saved(saved, template, names), s
        raise FileNotFoundError(
            f"No readable checkpoint in {self.directory}: " + "; ".join(errors))

    def _unreadable(self, step: int, err: Exception) -> str:
        logging.warning("Checkpoint %d in %s is unreadable (%s); trying the previous one.",
                        step, self.directory, err)
        print(f"WARNING: checkpoint {step} is corrupt or unreadable ({type(err).__name__}); "
              "falling back to the previous checkpoint.")
        self._quarantine(step)
        return f"step {step}: {err}"

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
    """Writes `obj` as JSON to `path` atomically (a temporary file renamed over it): a process
    killed while writing leaves the previous file whole, never a truncated one."""
    def default(x):
        if isinstance(x, np.generic | np.ndarray):
            return x.tolist()
        return str(x)

    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=default)
    os.replace(tmp, path)


def load_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)
