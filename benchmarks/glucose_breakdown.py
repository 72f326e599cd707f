"""Where the glucose env's time goes: the figures behind the notes of `benchmarks/glucose.md`.

    python benchmarks/glucose_breakdown.py env    # stack at batch 1, 1,024 and 16,384
    python benchmarks/glucose_breakdown.py noise  # bare env and stack, CGM noise on / off
    python benchmarks/glucose_breakdown.py si     # ODE: one-hot vs gather SI profile
    python benchmarks/glucose_breakdown.py reset  # the training stack, layer by layer

`env` is `launch.benchmark.measure_env` (288-step rollouts); run it at two commits for an A/B
(the notes compare a8981f2 with 52b661f). Pause other jobs first: on 2 cores they move every
figure by tens of percent.
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs import wrappers
from envs.glucose import patient
from launch.benchmark import measure_env


def env_rows():
    env = envs.make("glucose/all")
    for batch in (1, 1024, 16_384):
        row = measure_env(env, batch, 288)
        print(f"batch {batch}: {row['steps_per_s']:,.0f} env steps/s "
              f"(compile {row['compile_s']:.1f} s)", flush=True)


def _steps_per_s(env, batch, num_steps=96, stack=False, wrapped=False):
    if wrapped:  # `env` is already a batched stack
        batched = env
    else:
        batched = (wrappers.wrap_for_training(env, env.spec.episode_length) if stack
                   else wrappers.VmapWrapper(env))

    def rollout(state, key):
        def body(state, key_step):
            action = jax.random.uniform(key_step, (batch, 1), minval=0.0, maxval=6.0)
            state = batched.step(state, action)
            return state, state.reward.mean()
        return jax.lax.scan(body, state, jax.random.split(key, num_steps))

    state = jax.jit(batched.reset)(jax.random.split(jax.random.key(0), batch))
    compiled = jax.jit(rollout).lower(state, jax.random.key(1)).compile()
    jax.block_until_ready(compiled(state, jax.random.key(1)))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(compiled(state, jax.random.key(1)))
        times.append(time.perf_counter() - start)
    return batch * num_steps / np.median(times)


def noise_rows(batch=16_384):
    for noise in (True, False):
        env = envs.make("glucose/all", sensor_noise=noise)
        print(f"batch {batch}, noise {noise}: bare {_steps_per_s(env, batch):,.0f}, "
              f"stack {_steps_per_s(env, batch, stack=True):,.0f} env steps/s", flush=True)


def _si_onehot(p, time_min):
    """The profile lookup before commit 8cde41e: a 24-way one-hot sum."""
    hour = jnp.floor(time_min / 60.0) % 24
    onehot = (jnp.arange(24, dtype=jnp.float32) == hour[..., None]).astype(jnp.float32)
    return p.si_scale * jnp.sum(p.si_profile_24h * onehot, axis=-1)


def si_rows(batch=16_384, minutes=240):
    names = patient.population()
    params = patient.stacked_params([names[i % len(names)] for i in range(batch)])
    state = patient.initial_state(params)
    insulin = jnp.broadcast_to(patient.basal_u_per_min(params), (minutes, batch))
    meals = jnp.zeros((minutes, batch)).at[60].set(50.0)

    def compiled():
        def run(s, m, u):
            one = lambda p, si, mi, ui: patient.simulate(p, si, mi, ui)[0].x.gp  # noqa: E731
            return jax.vmap(one, in_axes=(0, 0, 1, 1))(params, s, m, u)
        fn = jax.jit(run).lower(state, meals, insulin).compile()
        jax.block_until_ready(fn(state, meals, insulin))
        return fn

    gather = patient._si_multiplier
    variants = {"gather": compiled()}
    patient._si_multiplier = _si_onehot  # traced at compile time only
    try:
        variants["one-hot"] = compiled()
    finally:
        patient._si_multiplier = gather
    diff = np.abs(np.asarray(variants["gather"](state, meals, insulin))
                  - np.asarray(variants["one-hot"](state, meals, insulin))).max()
    print(f"max |difference| in glucose: {diff}")
    for rep in range(3):  # alternate, so load drifts hit both
        for name, fn in variants.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(state, meals, insulin))
            rate = batch * minutes / (time.perf_counter() - start)
            print(f"{rep} {name}: {rate / 1e6:.2f}M patient-minutes/s", flush=True)


class _ResetFreeAutoReset(wrappers.BatchAutoResetWrapper):
    """A lower bound, not a wrapper to use: the auto-reset's bookkeeping without its reset
    (correct only while no env is done, as in a 96-step rollout of 288-step episodes)."""

    def step(self, state, action):
        key_next, _ = wrappers._split_reset_keys(state.info["reset_key"])
        stepped = self.env.step(state.replace(done=jnp.zeros_like(state.done)), action)
        return stepped.replace(info=dict(stepped.info, reset_key=key_next,
                                         terminal_obs=stepped.obs))


def reset_rows(batch=16_384, repeats=2):
    """Env steps/s of the stack's layers over 96 steps (no episode ends: 288-step days)."""
    env = envs.make("glucose/all")
    timed = wrappers.VmapWrapper(wrappers.EpisodeWrapper(env, env.spec.episode_length))
    layers = {
        "bare env": wrappers.VmapWrapper(env),
        "+ time limit": timed,
        "+ auto-reset bookkeeping, no reset branch": _ResetFreeAutoReset(timed, True),
        "+ auto-reset (lax.switch over tiers)": wrappers.BatchAutoResetWrapper(timed, True),
    }
    for rep in range(repeats):  # twice, so load drifts show
        for name, layer in layers.items():
            print(f"{rep} {name}: {_steps_per_s(layer, batch, wrapped=True):,.0f} env steps/s",
                  flush=True)


if __name__ == "__main__":
    {"env": env_rows, "noise": noise_rows, "si": si_rows, "reset": reset_rows}[sys.argv[1]]()
