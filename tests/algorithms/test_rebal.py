"""ReBAL: the GRU state is updated from the valid past transitions only (checked against a
hand-written loop over the cell), an empty context gives the unadapted model, and
meta-training on the linear-gain family makes the adapted prediction error at least 30% lower
than the unadapted one."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from test_grbal import SPEC, _adaptation_errors, _random_context, _random_normalizer

from algorithms import dynamics as dyn
from algorithms import rebal

CONFIG = rebal.Config(M=6, K=4, hidden_sizes=(16,), gru_size=8)


def test_adapt_runs_the_gru_over_valid_rows_only():
    key_init, key_norm, key_ctx = jax.random.split(jax.random.key(0), 3)
    params = rebal.init(key_init, CONFIG, SPEC)
    norm = _random_normalizer(key_norm)
    context = _random_context(key_ctx, CONFIG.M, num_valid=CONFIG.M)
    # The two oldest rows are padding (an episode's start): they must not touch the state.
    context = context._replace(mask=jnp.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0]))
    cell, _ = rebal.make_networks(CONFIG, SPEC)
    adapted = rebal.adapt(cell, params, norm, context)
    h = jnp.zeros((CONFIG.gru_size,))
    for t in range(2, CONFIG.M):
        x = jnp.concatenate([(context.obs[t] - norm.obs_mean) / norm.obs_std,
                             (context.action[t] - norm.action_mean) / norm.action_std,
                             (context.next_obs[t] - context.obs[t] - norm.delta_mean)
                             / norm.delta_std])
        h, _ = cell.apply(params.gru, h, x)
    np.testing.assert_allclose(adapted.hidden, h, rtol=1e-5, atol=1e-6)
    assert not np.allclose(h, 0.0)


def test_empty_context_gives_a_zero_state_and_a_context_changes_predictions():
    key_init, key_ctx = jax.random.split(jax.random.key(1))
    params = rebal.init(key_init, CONFIG, SPEC)
    model = rebal.make_model(CONFIG, SPEC)
    norm = dyn.identity_normalizer(2, 1)
    empty = model.adapt(params, norm, dyn.empty_context(CONFIG.M, 2, 1))
    chex.assert_trees_all_equal(empty.hidden, jnp.zeros((CONFIG.gru_size,)))
    full = model.adapt(params, norm, _random_context(key_ctx, CONFIG.M, CONFIG.M))
    obs, action = jnp.array([0.1, -0.2]), jnp.array([0.5])
    assert not np.allclose(model.predict(empty, norm, obs, action),
                           model.predict(full, norm, obs, action))


def test_truncate_context_keeps_the_most_recent_rows():
    context = _random_context(jax.random.key(2), 6, 6)
    masks = np.stack([np.asarray(rebal.losses.truncate_context(context, k).mask)
                      for k in jax.random.split(jax.random.key(3), 40)])
    for m in masks:  # a suffix of ones: 0..0 1..1
        assert np.all(np.diff(m) >= 0)
    assert {int(m.sum()) for m in masks} >= {0, 6}


def test_meta_trained_rebal_adapts_to_unseen_gains():
    config = rebal.Config(M=8, K=8, hidden_sizes=(32, 32), gru_size=16)
    adapted, unadapted = _adaptation_errors(rebal.make_model(config, SPEC), 8, 8, steps=200)
    assert adapted <= 0.7 * unadapted, (adapted, unadapted)
