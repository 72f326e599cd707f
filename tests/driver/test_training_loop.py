"""The off-policy loop: compile once, checkpoint round trip, kill + resume (checkpoints
numbered by env steps, and the older ones numbered by evaluation), SIGTERM / SIGINT stop at a
chunk boundary with a checkpoint, corrupt files. Real processes killed at random moments:
test_kill_resume.py."""

import os
import shutil
import signal
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import driver
import envs
from algorithms import off_policy, sac
from driver import runs
from driver.training import TrainingInterrupted
from envs.wrappers import Wrapper
from rlcore import checkpoint
from rlcore.config import to_dict

TINY = sac.Config(total_env_steps=600, num_envs=2, batch_size=16, replay_capacity=1000,
                  warmup_steps=50, learning_starts=50, eval_every_steps=100, num_eval_envs=2,
                  hidden_sizes=(8, 8), grad_steps_per_env_step=0.5, episode_length=30)


class CountingEnv(Wrapper):
    """Counts how often `step` is traced (each Python call happens at trace time only)."""

    def __init__(self, env):
        super().__init__(env)
        self.traces = 0

    def step(self, state, action):
        self.traces += 1
        return self.env.step(state, action)


def _count_traces(total_steps):
    env = CountingEnv(envs.make("classic/pendulum"))
    learner = sac.make_learner(TINY, env.spec)
    update_traces = []

    def counting_update(state, batch, key):
        update_traces.append(1)
        return sac.update(state, batch, key)

    learner = learner._replace(update=counting_update)
    config = TINY.__class__(**{**TINY.__dict__, "total_env_steps": total_steps})
    # An algorithm is anything with a `make_program`: here SAC with a counting update.
    counting_sac = types.SimpleNamespace(
        __name__="counting_sac",
        make_program=lambda env, config, mesh=None: off_policy.make_program(env, learner,
                                                                            config, mesh))
    result = driver.train(counting_sac, env, config, seed=0, progress=False)
    return env.traces, len(update_traces), len(result.metrics)


def test_compiles_once_whatever_the_number_of_iterations():
    env_traces, update_traces, evals = _count_traces(400)
    env_traces_long, update_traces_long, evals_long = _count_traces(1200)
    assert evals_long > evals >= 2
    # The env step is traced once in each compiled function: prefill, iteration, evaluation;
    # the update once, inside the iteration's scan. More iterations trace nothing more.
    assert env_traces == env_traces_long == 3
    assert update_traces == update_traces_long == 1


def test_checkpoint_round_trip(tmp_path):
    env = envs.make("classic/pendulum")
    learner = sac.make_learner(TINY, env.spec)
    state = learner.init(jax.random.key(0))
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    ckpt.save(1, {"state": state, "key": jax.random.key(42), "empty": jnp.zeros((0,))})
    template = {"state": learner.init(jax.random.key(1)), "key": jax.random.key(0),
                "empty": jnp.zeros((0,))}
    restored, step = ckpt.restore(template)
    ckpt.close()
    assert step == 1
    chex.assert_trees_all_equal(restored["state"], state)
    np.testing.assert_array_equal(jax.random.key_data(restored["key"]),
                                  jax.random.key_data(jax.random.key(42)))


class Killed(Exception):
    pass


def _steps_after(evals):
    """Env steps after evaluation number `evals` (the number of its checkpoint)."""
    return TINY.prefill_iterations * TINY.num_envs + evals * TINY.eval_every_steps


def _kill_after(evals):
    def on_eval(step, row):
        del row
        if step >= _steps_after(evals):
            raise Killed()

    return on_eval


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """TINY with seed 1, uninterrupted."""
    workdir = str(tmp_path_factory.mktemp("full"))
    return driver.train(sac, envs.make("classic/pendulum"), TINY, seed=1, workdir=workdir,
                        progress=False)


def _same_run(resumed, full):
    chex.assert_trees_all_equal(resumed.state.training_state.params,
                                full.state.training_state.params)
    assert [r["step"] for r in resumed.metrics] == [r["step"] for r in full.metrics]
    np.testing.assert_allclose([r["eval/return"] for r in resumed.metrics],
                               [r["eval/return"] for r in full.metrics])


def test_killed_run_resumes_to_the_same_parameters(tmp_path, full_run):
    env = envs.make("classic/pendulum")
    workdir = str(tmp_path / "killed")
    with pytest.raises(Killed):  # killed during the 3rd evaluation, before its checkpoint
        driver.train(sac, env, TINY, seed=1, workdir=workdir, progress=False,
                     on_eval=_kill_after(3))
    ckpt = checkpoint.Checkpointer(workdir)
    assert ckpt.steps() == [_steps_after(1), _steps_after(2)]  # numbered by env steps
    assert ckpt.info(_steps_after(2)) == {"eval_index": 2}
    ckpt.close()
    resumed = driver.train(sac, env, TINY, seed=1, workdir=workdir, progress=False)
    _same_run(resumed, full_run)


def test_a_checkpoint_numbered_by_evaluation_resumes(tmp_path, full_run):
    """Run directories written before checkpoints were numbered by env steps hold steps
    1, 2, ... (the evaluation index) of flat, unnamed leaves: resumed from evaluation 2."""
    env = envs.make("classic/pendulum")
    workdir = str(tmp_path / "old")
    with pytest.raises(Killed):
        driver.train(sac, env, TINY, seed=1, workdir=workdir, progress=False,
                     on_eval=_kill_after(3))
    ckpt = checkpoint.Checkpointer(workdir)
    state, _ = ckpt.restore(full_run.state)  # the state after evaluation 2
    ckpt.close()
    shutil.rmtree(os.path.join(workdir, "checkpoints"))
    manager = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"),
                                    options=ocp.CheckpointManagerOptions(create=True))
    manager.save(2, args=ocp.args.StandardSave(checkpoint._to_saveable_legacy(state)))
    manager.wait_until_finished()
    manager.close()
    resumed = driver.train(sac, env, TINY, seed=1, workdir=workdir, progress=False)
    _same_run(resumed, full_run)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_at_the_chunk_boundary_with_a_checkpoint(tmp_path, full_run, signum,
                                                                request):
    """The signal arrives during evaluation 2; checkpoints are due every 4 evaluations, yet
    the run stops after evaluation 2 with a checkpoint there, puts the handlers back, and
    resumes to the uninterrupted run's parameters."""
    env = envs.make("classic/pendulum")
    config = TINY.__class__(**{**TINY.__dict__, "checkpoint_every_evals": 4})
    workdir = str(tmp_path / "run")
    if signal.getsignal(signum) is signal.SIG_IGN:
        # A shell's background job starts with SIGINT ignored, which train leaves alone (the
        # next test); this test is about the foreground case, whoever launched pytest.
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)
        request.addfinalizer(lambda: signal.signal(signum, signal.SIG_IGN))
    before = signal.getsignal(signum)

    def on_eval(step, row):
        if step == _steps_after(2):
            os.kill(os.getpid(), signum)

    with pytest.raises(TrainingInterrupted) as err:
        driver.train(sac, env, config, seed=1, workdir=workdir, progress=False,
                     on_eval=on_eval)
    assert err.value.exit_code == 128 + signum and err.value.eval_index == 2
    assert err.value.checkpoint_step == _steps_after(2)
    assert signal.Signals(signum).name in str(err.value) and workdir in str(err.value)
    assert signal.getsignal(signum) is before
    ckpt = checkpoint.Checkpointer(workdir)
    assert ckpt.steps() == [_steps_after(2)] and ckpt.info(_steps_after(2))["eval_index"] == 2
    ckpt.close()
    resumed = driver.train(sac, env, config, seed=1, workdir=workdir, progress=False)
    _same_run(resumed, full_run)


def test_an_ignored_sigint_stays_ignored(tmp_path, full_run, request):
    """A background job's SIGINT (ignored when it starts) neither stops the run nor gets a
    handler: the run ends as the uninterrupted one and SIGINT is still ignored after."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))

    def on_eval(step, row):
        if step == _steps_after(2):
            os.kill(os.getpid(), signal.SIGINT)

    result = driver.train(sac, envs.make("classic/pendulum"), TINY, seed=1,
                          workdir=str(tmp_path / "run"), progress=False, on_eval=on_eval)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    _same_run(result, full_run)


def test_resume_with_other_config_names_fields(tmp_path):
    workdir = str(tmp_path / "run")
    assert not runs.check_workdir_config(workdir, TINY, {"actor_lr": 3e-4, "batch_size": 16})
    assert runs.check_workdir_config(workdir, TINY, {"actor_lr": 3e-4, "batch_size": 16})
    with pytest.raises(ValueError, match="actor_lr: saved=0.0003 now=0.001"):
        runs.check_workdir_config(workdir, TINY, {"actor_lr": 1e-3, "batch_size": 16})


def test_a_run_saved_under_old_field_names_resumes(tmp_path):
    # A model-based run directory written when the fields were learning_rate and
    # eval_every_iterations resumes under model_lr and eval_every_steps.
    from algorithms import mb

    config = mb.Config(episode_length=40, num_envs=2, eval_every_steps=3 * 2 * 40)
    now = dict(to_dict(config), algo="mb")
    old = {("learning_rate" if k == "model_lr" else k): v for k, v in now.items()
           if k != "eval_every_steps"}
    workdir = tmp_path / "old"
    workdir.mkdir()
    checkpoint.save_json(str(workdir / "config.json"), dict(old, eval_every_iterations=3))
    assert runs.check_workdir_config(str(workdir), config, now)
    with pytest.raises(ValueError, match="eval_every_steps: saved=240 now=160"):
        runs.check_workdir_config(str(workdir), config,
                                  dict(now, eval_every_steps=160))


def test_corrupt_latest_checkpoint_falls_back(tmp_path, capsys):
    env = envs.make("classic/pendulum")
    workdir = str(tmp_path / "run")
    with pytest.raises(Killed):
        driver.train(sac, env, TINY, seed=2, workdir=workdir, progress=False,
                     on_eval=_kill_after(3))
    ckpt = checkpoint.Checkpointer(workdir)
    assert ckpt.steps() == [_steps_after(1), _steps_after(2)]
    latest = os.path.join(ckpt.directory, str(_steps_after(2)))
    for root, _, files in os.walk(latest):
        for name in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"garbage")
    resumed = driver.train(sac, env, TINY, seed=2, workdir=workdir, progress=False)
    assert f"checkpoint {_steps_after(2)} is corrupt" in capsys.readouterr().out
    assert int(resumed.state.training_state.env_steps) >= TINY.total_env_steps
    # The run went on from checkpoint 1: the rows after it were rewritten, none duplicated.
    steps = [r["step"] for r in resumed.metrics]
    assert steps == sorted(set(steps)) and len(steps) == TINY.num_evals
