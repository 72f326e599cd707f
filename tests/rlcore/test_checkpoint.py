"""rlcore.checkpoint: leaves saved and matched by name, mismatches named, the info record, and
the flat layout of older run directories (leaves "00000", "00001", ...) still read."""

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from rlcore import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Old(NamedTuple):
    a: jax.Array
    b: jax.Array


class Swapped(NamedTuple):  # Old with its two same-shaped fields in the other order
    b: jax.Array
    a: jax.Array


def _state():
    return {"params": Old(a=jnp.arange(3.0), b=-jnp.arange(3.0)),
            "key": jax.random.key(7), "empty": jnp.zeros((0, 2)), "count": jnp.int32(5)}


def _save(tmp_path, tree, step=10, info=None):
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    ckpt.save(step, tree, info=info)
    return ckpt


def test_round_trip_with_info_and_names(tmp_path):
    ckpt = _save(tmp_path, _state(), info={"eval_index": 3})
    template = jax.tree.map(jnp.zeros_like, _state())
    template["key"] = jax.random.key(0)
    restored, step = ckpt.restore(template)
    assert step == 10 and ckpt.info(10) == {"eval_index": 3}
    np.testing.assert_array_equal(restored["params"].b, -np.arange(3.0))
    assert int(restored["count"]) == 5 and restored["empty"].shape == (0, 2)
    np.testing.assert_array_equal(jax.random.key_data(restored["key"]),
                                  jax.random.key_data(jax.random.key(7)))
    ckpt.close()
    assert checkpoint.leaf_names(_state()) == ["count", "empty", "key", "params.a", "params.b"]


def test_same_shaped_leaves_are_matched_by_name_not_position(tmp_path):
    ckpt = _save(tmp_path, {"p": Old(a=jnp.ones(2), b=jnp.full(2, 2.0))})
    restored, _ = ckpt.restore({"p": Swapped(b=jnp.zeros(2), a=jnp.zeros(2))})
    ckpt.close()
    np.testing.assert_array_equal(restored["p"].a, np.ones(2))
    np.testing.assert_array_equal(restored["p"].b, np.full(2, 2.0))


@pytest.mark.parametrize("template, message", [
    ({"p": Old(a=jnp.zeros(2), b=jnp.zeros(3))}, "leaf 'p.b' has shape (2,) float32 in the "
     "checkpoint but shape (3,) float32 in the state"),
    ({"p": Old(a=jnp.zeros(2), b=jnp.zeros(2, jnp.int32))}, "'p.b' has shape (2,) float32"),
    ({"p": Old(a=jnp.zeros(2), b=jnp.zeros(2)), "q": jnp.zeros(1)},
     "the state's leaf 'q' (shape (1,) float32) is not in the checkpoint"),
    ({"p": {"a": jnp.zeros(2)}}, "the checkpoint's leaf 'p.b' is not in the state"),
])
def test_a_mismatch_is_refused_naming_the_leaf(tmp_path, template, message):
    ckpt = _save(tmp_path, {"p": Old(a=jnp.ones(2), b=jnp.ones(2))})
    with pytest.raises(checkpoint.CheckpointMismatchError) as err:
        ckpt.restore(template)
    assert message in str(err.value) and isinstance(err.value, ValueError)
    assert ckpt.steps() == [10]  # a mismatch is not a corrupt file: nothing is moved aside
    ckpt.close()


def test_flat_checkpoints_of_older_runs_are_read_by_position(tmp_path):
    # The layout before leaves were named: leaves "%05d" in tree order, zero-size ones left
    # out, no format record.
    tree = {"a": jnp.arange(2.0), "b": jnp.zeros((0,)), "c": jax.random.key(3)}
    flat = {"00000": tree["a"], "00002": jax.random.key_data(tree["c"])}
    manager = ocp.CheckpointManager(str(tmp_path / "checkpoints"),
                                    options=ocp.CheckpointManagerOptions(create=True))
    manager.save(2, args=ocp.args.StandardSave(flat))
    manager.wait_until_finished()
    manager.close()
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    template = {"a": jnp.zeros(2), "b": jnp.zeros((0,)), "c": jax.random.key(0)}
    restored, step = ckpt.restore(template)
    assert step == 2 and ckpt.info(2) == {}
    np.testing.assert_array_equal(restored["a"], np.arange(2.0))
    np.testing.assert_array_equal(jax.random.key_data(restored["c"]),
                                  jax.random.key_data(jax.random.key(3)))
    with pytest.raises(checkpoint.CheckpointMismatchError, match="leaf at position '00000'"):
        ckpt.restore({"a": jnp.zeros(3), "b": jnp.zeros((0,)), "c": jax.random.key(0)})
    ckpt.close()


def test_a_shipped_run_directory_policy_restores():
    """benchmarks/artificial_pancreas/ap_children/policy holds the flat layout: restored the
    way `launch.evaluate --workdir` restores it, without writing into the directory."""
    from algorithms import sac
    from launch import presets
    from rlcore.config import apply_overrides

    workdir = os.path.join(ROOT, "benchmarks", "artificial_pancreas", "ap_children")
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(workdir) for f in fs)
    saved = checkpoint.load_json(os.path.join(workdir, "flags.json"))
    config = apply_overrides(sac.Config(), saved["config_overrides"])
    env, _ = presets.make_env(saved["env"], saved["env_args"])
    template = sac.policy_params(sac.init(jax.random.key(0), config, env.spec))
    params = checkpoint.restore_policy(workdir, template)
    assert jax.tree.structure(params) == jax.tree.structure(template)
    kernels = [x for x in jax.tree.leaves(params) if np.ndim(x) == 2]
    assert kernels and all(np.all(np.isfinite(k)) and np.any(k != 0) for k in kernels)
    assert sorted(os.path.join(r, f) for r, _, fs in os.walk(workdir) for f in fs) == files
