"""`driver.runs.BestEval`: model selection on the evaluation return, kept across a resume."""

import jax.numpy as jnp
import numpy as np

from driver.runs import BestEval


def _params(value):
    return {"w": jnp.full((3,), value, jnp.float32)}


def test_keeps_the_highest_return_and_copies_the_parameters(tmp_path):
    best = BestEval(str(tmp_path), _params(0.0), resumed_env_steps=0)
    live = _params(1.0)
    best.offer(100, -5.0, live)
    best.offer(200, -7.0, _params(2.0))  # worse: ignored
    assert (best.env_steps, best.eval_return) == (100, -5.0)
    live["w"] = live["w"] + 10.0  # the training state moves on
    np.testing.assert_array_equal(best.params["w"], np.ones(3))
    best.offer(300, -1.0, _params(3.0))
    assert (best.env_steps, best.eval_return) == (300, -1.0)


def test_a_resumed_run_keeps_its_best_unless_it_lies_past_the_resumed_state(tmp_path):
    first = BestEval(str(tmp_path), _params(0.0), resumed_env_steps=0)
    first.offer(100, -5.0, _params(1.0))
    resumed = BestEval(str(tmp_path), _params(0.0), resumed_env_steps=150)
    assert (resumed.env_steps, resumed.eval_return) == (100, -5.0)
    np.testing.assert_array_equal(resumed.params["w"], np.ones(3))
    # Killed after the evaluation at 100 steps but resumed from a state before it: that
    # evaluation is run again, so its saved best is dropped.
    early = BestEval(str(tmp_path), _params(0.0), resumed_env_steps=50)
    assert early.params is None and early.eval_return is None
