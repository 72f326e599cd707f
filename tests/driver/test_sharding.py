"""Sharding over 4 host devices matches one device; a 1M-transition buffer stays on device."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import envs
from algorithms import sac
from envs import wrappers
from rlcore import loop, sharding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs with 4 host devices: XLA reads the flag when JAX starts, hence a fresh interpreter.
SCRIPT = textwrap.dedent("""
    import json
    import jax
    import numpy as np
    jax.config.update("jax_debug_key_reuse", True)
    import envs
    from algorithms import sac
    import driver

    assert jax.device_count() == 4, jax.devices()
    config = sac.Config(total_env_steps=96, num_envs=8, batch_size=16, replay_capacity=64,
                        warmup_steps=32, learning_starts=32, eval_every_steps=32,
                        num_eval_envs=2, hidden_sizes=(8,), grad_steps_per_env_step=0.25,
                        checkpoint_every_evals=0, episode_length=20)
    env = envs.make("classic/pendulum")
    out = {}
    for devices in (None, 4):
        result = driver.train(sac, env, config,
                                         seed=3, progress=False, devices=devices)
        state = result.state
        params = state.training_state.params
        out[str(devices)] = {
            "params": [np.asarray(x).tolist() for x in jax.tree.leaves(params)],
            "grad_steps": int(state.training_state.grad_steps),
            "obs_devices": len(state.env_state.obs.sharding.device_set),
            "obs_shards": [list(s.data.shape) for s in state.env_state.obs.addressable_shards],
            "buffer_shards": [list(s.data.shape) for s in
                              state.training_state.buffer.data.obs.addressable_shards],
            "param_shards": [list(s.data.shape) for s in
                             jax.tree.leaves(params)[0].addressable_shards],
            "eval_return": result.metrics[-1]["eval/return"],
        }
    # One update on a batch split over the mesh, parameters replicated: XLA averages the
    # gradients across devices with an all-reduce, and the new parameters stay replicated.
    from rlcore import loop, sharding
    mesh = sharding.make_mesh(4)
    ts = sharding.replicate(sac.init(jax.random.key(0), config, env.spec), mesh)
    batch = sharding.shard_batch(jax.tree.map(lambda x: jax.numpy.ones((16,) + x.shape),
                                              loop.empty_transition(3, 1)), mesh)
    key = sharding.replicate(jax.random.key(1), mesh)
    step = jax.jit(sac.update).lower(ts, batch, key).compile()
    out["all_reduce"] = "all-reduce" in step.as_text()
    new_ts, _ = step(ts, batch, key)
    out["updated_param_devices"] = [
        len(x.sharding.device_set) for x in jax.tree.leaves(new_ts.params)]
    out["updated_param_replicated"] = all(
        x.sharding.is_fully_replicated for x in jax.tree.leaves(new_ts.params))
    try:
        bad = sac.Config(**{**config.__dict__, "num_envs": 6, "eval_every_steps": 36})
        driver.train(sac, env, bad, devices=4)
        out["error"] = None
    except ValueError as err:
        out["error"] = str(err)
    print("RESULT" + json.dumps(out))
""")


@pytest.fixture(scope="module")
def four_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    return json.loads(line[len("RESULT"):])


def test_four_devices_train_the_same_parameters_as_one(four_devices):
    one, four = four_devices["None"], four_devices["4"]
    assert one["grad_steps"] == four["grad_steps"] > 0
    assert len(one["params"]) == len(four["params"])
    for a, b in zip(one["params"], four["params"]):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(four["eval_return"], one["eval_return"], rtol=1e-3)


def test_env_batch_and_replay_split_params_replicated(four_devices):
    one, four = four_devices["None"], four_devices["4"]
    assert one["obs_devices"] == 1 and one["obs_shards"] == [[8, 3]]
    assert four["obs_devices"] == 4
    assert four["obs_shards"] == [[2, 3]] * 4  # 8 envs, 2 on each device
    assert four["buffer_shards"] == [[16, 3]] * 4  # capacity 64, 16 slots on each device
    full = [len(np.asarray(four["params"][0]))] + list(np.shape(four["params"][0]))[1:]
    assert four["param_shards"] == [full] * 4  # whole copies


def test_gradients_are_averaged_by_an_all_reduce(four_devices):
    assert four_devices["all_reduce"]
    assert set(four_devices["updated_param_devices"]) == {4}
    assert four_devices["updated_param_replicated"]


def test_num_envs_not_divisible_by_devices_is_a_clear_error(four_devices):
    assert "num_envs=6 must be divisible by the number of devices (4)" in four_devices["error"]


def test_more_devices_than_exist_is_a_clear_error():
    with pytest.raises(ValueError, match="JAX sees"):
        sharding.make_mesh(jax.device_count() + 1)


def test_one_million_glucose_transitions_sample_without_host_transfers():
    env = envs.make("glucose/adult#001")
    assert env.spec.obs_size == 27
    config = sac.Config(total_env_steps=100, num_envs=2, batch_size=32,
                        replay_capacity=1_000_000, warmup_steps=0, learning_starts=0,
                        eval_every_steps=100, hidden_sizes=(8,), grad_steps_per_env_step=0.5)
    learner = sac.make_learner(config, env.spec)
    train_env = wrappers.wrap_for_training(env, 10)
    key_init, key_env, key_loop = jax.random.split(jax.random.key(0), 3)
    state = loop.LoopState(training_state=learner.init(key_init),
                           env_state=train_env.reset(jax.random.split(key_env, 2)),
                           key=key_loop)
    buffer = state.training_state.buffer
    assert buffer.capacity == 1_000_000
    assert buffer.data.obs.shape == (1_000_000, 27)
    iteration = loop.make_iteration(train_env, learner, config)[0]
    # Placed as training places it (one device on this CPU; the same shardings on N).
    mesh = sharding.make_mesh(None)
    state = jax.device_put(state, sharding.loop_state_shardings(state, mesh))
    state = jax.tree.map(lambda x: x.copy(), state)  # distinct buffers, for donation
    compiled = jax.jit(iteration, donate_argnums=0).lower(state).compile()
    # 1M x (27 + 27 obs + 1 action + reward, cost, discount) float32: 232 MB, on device.
    nbytes = sum(x.nbytes for x in jax.tree.leaves(state.training_state.buffer.data))
    assert nbytes == 1_000_000 * (27 + 27 + env.spec.action_size + 3) * 4
    # No host callback anywhere in the compiled iteration (the only way it could copy to host).
    assert "callback" not in compiled.as_text()
    with jax.transfer_guard("disallow"):
        for _ in range(2):
            state, metrics = compiled(state)
        jax.block_until_ready((state, metrics))
    assert int(state.training_state.buffer.size) == 4
    assert int(state.training_state.grad_steps) == 2
    assert np.isfinite(float(metrics["train/critic_loss"]))
    # The guard does catch a transfer: a host array passed into the same program.
    host_state = state.replace(training_state=state.training_state.replace(
        env_steps=np.asarray(4, np.int32)))
    with pytest.raises(Exception, match="[Dd]isallowed host-to-device"):
        with jax.transfer_guard("disallow"):
            compiled(host_state)
