"""Many seeds in one jit: seed s of the batch is the single run with seed s, and it is cheap."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import driver
import envs
from algorithms import sac
from tests.xla_flags import with_lowered_opt

TINY = sac.Config(total_env_steps=160, num_envs=4, batch_size=16, replay_capacity=256,
                  warmup_steps=32, learning_starts=32, eval_every_steps=64, num_eval_envs=2,
                  hidden_sizes=(8,), grad_steps_per_env_step=0.25, checkpoint_every_evals=0,
                  episode_length=20)


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_seed_s_of_the_batch_is_the_single_run_with_seed_s(tmp_path):
    env = envs.make("classic/pendulum")
    batch = driver.train(sac, env, TINY, seeds=(4, 7, 2), workdir=str(tmp_path),
                              progress=False)
    single = driver.train(sac, env, TINY, seed=7, progress=False)

    def seed_params(i):
        return jax.tree.map(lambda x: x[i], batch.state.training_state.params)

    ours, theirs = _leaves(seed_params(1)), _leaves(single.state.training_state.params)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # The other seeds are different runs (so the comparison above can fail).
    assert any(not np.allclose(a, b, atol=1e-3) for a, b in zip(_leaves(seed_params(0)),
                                                                 theirs))
    assert len(batch.per_seed[7]) == len(single.metrics) == TINY.num_evals
    for ours_row, their_row in zip(batch.per_seed[7], single.metrics):
        assert ours_row["step"] == their_row["step"]
        np.testing.assert_allclose(ours_row["eval/return"], their_row["eval/return"],
                                   rtol=1e-3)
    # The summary row: the mean over the 3 seeds, and an IQM inside its interval.
    returns = [batch.per_seed[s][-1]["eval/return"] for s in (4, 7, 2)]
    last = batch.metrics[-1]
    assert last["eval/return"] == pytest.approx(np.mean(returns), rel=1e-6)
    assert last["eval/return_iqm_ci_low"] <= last["eval/return_iqm"]
    assert last["eval/return_iqm"] <= last["eval/return_iqm_ci_high"]
    assert (tmp_path / "metrics.csv").exists() and (tmp_path / "seed_2" / "metrics.csv").exists()


def test_summary_row_by_hand():
    rows = [{"eval/return": r, "train/alpha": a}
            for r, a in [(1.0, 0.1), (2.0, 0.2), (3.0, 0.3), (10.0, float("nan"))]]
    row = driver.summary_row(rows)
    assert row["eval/return"] == pytest.approx(4.0)
    assert row["eval/return_iqm"] == pytest.approx(2.5)  # 2 and 3
    assert row["train/alpha"] == pytest.approx(0.2)  # NaN left out
    assert "train/alpha_iqm" not in row
    with pytest.raises(ValueError, match="distinct"):
        driver.train(sac, envs.make("classic/pendulum"), TINY, seeds=(1, 1))


class Killed(Exception):
    pass


def test_killed_multi_seed_run_resumes_to_the_same_parameters(tmp_path):
    env = envs.make("classic/pendulum")
    config = sac.Config(**{**TINY.__dict__, "checkpoint_every_evals": 1})
    full = driver.train(sac, env, config, seeds=(1, 5),
                             workdir=str(tmp_path / "full"), progress=False)
    killed_dir = str(tmp_path / "killed")
    evals_seen = []

    def kill_in_second_eval(step, row):
        evals_seen.append(step)
        if len(evals_seen) == 2:  # after the 2nd evaluation, before its checkpoint
            raise Killed()

    with pytest.raises(Killed):
        driver.train(sac, env, config, seeds=(1, 5), workdir=killed_dir,
                          progress=False, on_eval=kill_in_second_eval)
    resumed = driver.train(sac, env, config, seeds=(1, 5), workdir=killed_dir,
                                progress=False)
    for a, b in zip(_leaves(resumed.state.training_state.params),
                    _leaves(full.state.training_state.params)):
        np.testing.assert_array_equal(a, b)
    assert [r["step"] for r in resumed.metrics] == [r["step"] for r in full.metrics]
    assert [r["step"] for r in resumed.per_seed[5]] == [r["step"] for r in full.per_seed[5]]
    np.testing.assert_allclose([r["eval/return"] for r in resumed.per_seed[5]],
                               [r["eval/return"] for r in full.per_seed[5]])
    # A different seed list is a different run: refused, naming the field.
    with pytest.raises(ValueError, match="seeds"):
        driver.train(sac, env, config, seeds=(1, 6), workdir=killed_dir,
                          progress=False)


SEEDS_ON_DEVICES = textwrap.dedent("""
    import json
    import jax
    import numpy as np
    import envs
    import driver
    from algorithms import sac
    from tests.driver.test_seeds import TINY

    assert jax.device_count() == 4, jax.devices()
    env = envs.make("classic/pendulum")
    out = {}
    for devices in (None, 4):
        result = driver.train(sac, env, TINY, seeds=(0, 1, 2, 3), progress=False,
                              devices=devices)
        params = result.state.training_state.params
        out[str(devices)] = {
            "params": [np.asarray(x).tolist() for x in jax.tree.leaves(params)],
            "param_shards": [list(s.data.shape) for s in
                             jax.tree.leaves(params)[0].addressable_shards],
            "obs_devices": len(result.state.env_state.obs.sharding.device_set),
        }
    try:
        driver.train(sac, env, TINY, seeds=(0, 1, 2), devices=4)
        out["error"] = None
    except ValueError as err:
        out["error"] = str(err)
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.slow  # a 4-device subprocess; the default suite has the 2-device sharding tests
def test_seeds_split_across_four_host_devices_match_one_device():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # Compared at a tolerance, not bit for bit: XLA's lowered level, a third less compile time.
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=root,
               XLA_FLAGS=with_lowered_opt("--xla_force_host_platform_device_count=4"))
    proc = subprocess.run([sys.executable, "-c", SEEDS_ON_DEVICES], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    one, four = out["None"], out["4"]
    for a, b in zip(one["params"], four["params"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    # The seed axis (4 seeds) is split: one seed's parameters and envs on each device.
    assert four["obs_devices"] == 4 and one["obs_devices"] == 1
    assert all(shape[0] == 1 for shape in four["param_shards"])
    assert "num_seeds" in out["error"]
