"""PEARL meta-training throughput: `python -m launch.benchmark --suite=pearl [--quick]`.

Rows (one per setting, on the first registered task family of `FAMILIES`):
  * `steps_per_s`, `grad_steps_per_s`: a whole meta-training iteration as the driver logs
    them (collection of every phase + gradient steps, one jitted scan; the second chunk's
    timing, compile excluded and reported as `compile_s`);
  * `collect_steps_per_s`: collection alone (`num_tasks_sample` tasks x `num_envs` envs,
    stochastic policy, z from the prior);
  * `update_grad_steps_per_s`: meta-gradient steps alone (sample a meta-batch of contexts and
    RL data from the per-task buffers, one `pearl.update`), scanned.
"""

from __future__ import annotations

import dataclasses

import driver
from benchmarks.measure import device_name, time_compiled

FAMILIES = ("mjx/cheetah-vel", "mjx/point-goal-sparse", "mjx/ant-goal")


def make_updates(config, num_updates: int):
    """`updates(training_state, key) -> critic losses (num_updates,)`: PEARL's gradient steps
    alone, each on a fresh meta-batch drawn from the per-task buffers, scanned."""
    import jax

    from algorithms import pearl

    def updates(ts, key):
        def one(ts, key_step):
            key_tasks, key_batch, key_update = jax.random.split(key_step, 3)
            ids = jax.random.randint(key_tasks, (config.meta_batch,), 0, config.num_train_tasks)
            return pearl.update(ts, pearl.sample_meta_batch(ts, ids, key_batch), key_update)

        return jax.lax.scan(one, ts, jax.random.split(key, num_updates))[1]["train/critic_loss"]

    return updates


def measure(env, config, label: str) -> dict:
    import jax

    from algorithms import pearl
    from algorithms.pearl import rollout

    spec = env.spec
    key_init, key_tasks, key_collect, key_update = jax.random.split(jax.random.key(0), 4)
    state = pearl.init(key_init, config, spec)
    params = pearl.policy_params(state)

    # Collection alone: one prior phase of num_tasks_sample tasks.
    policy = pearl.make_policy(config, spec)
    collect = rollout.make_collect(env, config, policy)
    tasks = env.sample_tasks(key_tasks, config.num_tasks_sample)
    prior = rollout.prior(config.num_tasks_sample, config.latent_size)
    steps = config.num_steps_prior
    _, collect_s = time_compiled(lambda p, k: collect(p, tasks, prior, steps, k)[0].reward.sum(),
                          params, key_collect)
    collect_rate = config.num_tasks_sample * config.steps_per_phase(steps) / collect_s

    # Gradient steps alone.
    num_updates = config.grad_steps_per_iteration
    _, update_s = time_compiled(make_updates(config, num_updates), state, key_update)

    # The whole iteration, as the driver logs it.
    result = driver.train(pearl, env, config, seed=0, progress=False)
    last = result.metrics[-1]
    return {"suite": "pearl", "name": f"pearl on {spec.name} ({label})",
            "batch_size": config.num_tasks_sample * config.num_envs,
            "steps_per_s": last["train/env_steps_per_s"],
            "grad_steps_per_s": last["train/grad_steps_per_s"],
            "collect_steps_per_s": collect_rate,
            "update_grad_steps_per_s": num_updates / update_s,
            "compile_s": last["train/compile_s"],
            "meta_batch": config.meta_batch, "batch": config.batch_size,
            "context": config.context_size, "hidden": "x".join(map(str, config.hidden_sizes)),
            "env_steps_per_iteration": config.env_steps_per_iteration,
            "grad_steps_per_iteration": config.grad_steps_per_iteration,
            "unit": "env steps/s", "device": device_name()}


def run_suite(quick: bool = False) -> list[dict]:
    import envs
    from algorithms import pearl

    available = [name for name in FAMILIES if name in envs.names()]
    if not available:
        raise RuntimeError(f"No PEARL task family is registered (looked for {FAMILIES}).")
    env = envs.make(available[0])
    # oyster's cheetah-vel networks and batch sizes; few tasks and iterations (two chunks of
    # one iteration each) so the run is about throughput, not learning.
    base = pearl.Config(num_train_tasks=8, num_test_tasks=2, num_initial_steps=200,
                        num_tasks_sample=4, num_steps_prior=400, num_extra_rl_steps_posterior=600,
                        context_size=100, grad_steps_per_iteration=100,
                        rl_buffer_capacity=2000, eval_every_steps=4 * 1000,
                        checkpoint_every_evals=0, num_eval_episodes=2,
                        total_env_steps=8 * 200 + 2 * 4 * 1000)
    if quick:
        small = dict(hidden_sizes=(64, 64), encoder_hidden_sizes=(64,), batch_size=64,
                     meta_batch=4, context_size=32, grad_steps_per_iteration=20,
                     num_steps_prior=100, num_extra_rl_steps_posterior=100,
                     num_initial_steps=100, total_env_steps=8 * 100 + 2 * 4 * 200,
                     episode_length=100, eval_every_steps=4 * 200)
        settings = [("quick, 1 env per task", dataclasses.replace(base, **small))]
    else:
        settings = [("oyster sizes, 1 env per task", base),
                    ("oyster sizes, 10 envs per task", dataclasses.replace(base, num_envs=10))]
    return [measure(env, config, label) for label, config in settings]
