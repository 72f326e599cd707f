"""Where the glucose env's time goes: the figures behind the notes of `benchmarks/glucose.md`.

    python -m benchmarks.studies.glucose_breakdown env    # stack at batch 1, 1,024 and 16,384
    python -m benchmarks.studies.glucose_breakdown noise  # bare env and stack, CGM noise on / off
    python -m benchmarks.studies.glucose_breakdown si     # ODE: one-hot vs gather SI profile
    python -m benchmarks.studies.glucose_breakdown reset  # the stack, with and without resets

`env` is `benchmarks.measure.measure_env` (288-step rollouts); run it at two commits for an A/B
(the notes compare a8981f2 with 52b661f). Pause other jobs first: on 2 cores they move every
figure by tens of percent.
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import envs
from benchmarks.measure import measure_env, median_call_seconds
from envs import wrappers
from envs.glucose import patient


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


def _timed_rollouts(fns: dict, state, rounds: int = 6) -> dict:
    """Median seconds of each compiled `fn(state, key)`, timed in interleaved rounds so a load
    drift on the shared CPU moves every variant alike (separate processes differ by 20%)."""
    key = jax.random.key(1)
    for fn in fns.values():
        jax.block_until_ready(fn(state, key))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(state, key))
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def reset_rows(batch=16_384, num_steps=96):
    """The training stack's cost over the env, with and without episodes ending.

    Two action ranges: uniform over the pump's whole range, as `benchmarks.measure` steps the
    env (most patients go hypoglycaemic within hours, so a few % of envs end at each step), and
    0-1 U/h around basal, where no episode ends in 96 steps. "time limit only" keeps stepping
    envs that are done; the stack resets them (`wrappers.wrap_for_training`).
    """
    env = envs.make("glucose/all")
    timed = wrappers.VmapWrapper(wrappers.EpisodeWrapper(env, env.spec.episode_length))
    stack = wrappers.wrap_for_training(env, env.spec.episode_length)
    state = jax.jit(stack.reset)(jax.random.split(jax.random.key(0), batch))
    high = float(env.spec.action_high[0])

    def rollout(layer, max_u_per_h):
        def run(state, key):
            def body(state, key_step):
                action = jax.random.uniform(key_step, (batch, 1), maxval=max_u_per_h)
                state = layer.step(state, action)
                return state, state.done.sum()
            return jax.lax.scan(body, state, jax.random.split(key, num_steps))
        return jax.jit(run).lower(state, jax.random.key(1)).compile()

    fns, done = {}, {}
    for max_u in (high, 1.0):
        for name, layer in (("time limit only", timed), ("training stack", stack)):
            label = f"actions 0-{max_u:g} U/h, {name}"
            fns[label] = rollout(layer, max_u)
            done[label] = (f"{float(fns[label](state, jax.random.key(1))[1].mean()):.1f} envs "
                           "end per step" if layer is stack else "done envs keep stepping")
    for label, seconds in _timed_rollouts(fns, state).items():
        print(f"{label}: {batch * num_steps / seconds:,.0f} env steps/s, {done[label]}",
              flush=True)

    # One vmapped reset against one vmapped step, per env.
    keys = jax.random.split(jax.random.key(3), batch)
    bare = wrappers.VmapWrapper(env)
    fresh = jax.jit(bare.reset)(keys)
    basal = jnp.ones((batch, 1))
    for name, fn, args in (("reset", jax.jit(bare.reset), (keys,)),
                           ("step", jax.jit(bare.step), (fresh, basal))):
        jax.block_until_ready(fn(*args))
        seconds = median_call_seconds(lambda fn=fn, args=args: jax.block_until_ready(fn(*args)))
        print(f"one {name}: {seconds / batch * 1e6:.2f} us per env", flush=True)


if __name__ == "__main__":
    {"env": env_rows, "noise": noise_rows, "si": si_rows, "reset": reset_rows}[sys.argv[1]]()
