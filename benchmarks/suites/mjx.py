"""The `mjx` benchmark suite: MJX robots' env steps/s and compile time, against bare
`mjx.step` on the same model and native MuJoCo C stepping.

    python -m launch.benchmark --suite=mjx           # writes benchmarks/mjx.json and .md
    python -m launch.benchmark --suite=mjx --quick   # smoke run: cheetah, batches 1 and 64
    MJX_BENCH_ROBOTS=cheetah-run,quadruped-walk python -m launch.benchmark --suite=mjx

Rows per robot and batch size B (1, 64, 256, 1,024; up to 8,192 on an accelerator):
  env      `measure_env` (benchmarks.measure): the registered env with the training wrappers
           (time limit, auto-reset, episode statistics, vmap), uniform random actions,
           one jitted `lax.scan`.
  mjx.step the same model, `jax.vmap` of `n_frames` bare `mjx.step` calls per control step
           with uniform random ctrl, in one jitted `lax.scan`: the floor the env layer adds to.
  C        native `mujoco.mj_step` in a Python loop, one thread, B = 1 (the CPU reference).
Every figure is in env (control) steps per second, `n_frames` physics steps each;
`overhead` is env time / mjx.step time - 1 at the same B (the issue's goal: <= 15%).
"""

from __future__ import annotations

import os
import time

from benchmarks.measure import device_name, measure_env, time_compiled

ROBOTS = ("cheetah-run", "ant-run", "walker-run", "quadruped-walk", "point-goal")
BATCHES = (1, 64, 256, 1024)
ACCELERATOR_BATCHES = (1, 64, 256, 1024, 4096, 8192)


def _num_steps(batch_size: int, quick: bool) -> int:
    """Control steps per timed rollout: enough work to time, bounded on a loaded CPU."""
    if quick:
        return 20
    return 200 if batch_size <= 64 else 50


def measure_bare_mjx(env, batch_size: int, num_steps: int, seed: int = 0) -> dict:
    """Env-equivalent steps/s of bare `mjx.step` (n_frames per control step), vmapped."""
    import jax
    import jax.numpy as jnp
    from mujoco import mjx

    model = env.mjx_model
    low = jnp.asarray(env.spec.action_low)
    high = jnp.asarray(env.spec.action_high)
    data0 = mjx.make_data(env.mj_model)
    data = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch_size,) + x.shape), data0)
    data = data.replace(qpos=jnp.broadcast_to(env.qpos_home, (batch_size, env.mj_model.nq)))

    def control_step(d, ctrl):
        d = d.replace(ctrl=ctrl.astype(d.ctrl.dtype))

        def substep(d, _):
            return mjx.step(model, d), None

        return jax.lax.scan(substep, d, None, length=env.n_frames)[0]

    def rollout(data, key):
        def body(data, key_step):
            ctrl = jax.random.uniform(key_step, (batch_size, env.spec.action_size),
                                      minval=low, maxval=high)
            data = jax.vmap(control_step)(data, ctrl)
            return data, data.qpos[:, 0].mean()

        return jax.lax.scan(body, data, jax.random.split(key, num_steps))

    key_warm, key_run = jax.random.split(jax.random.key(seed))
    compile_s, elapsed = time_compiled(rollout, data, key_run, warm_args=(data, key_warm))
    return {"batch_size": batch_size, "steps_per_s": batch_size * num_steps / elapsed,
            "compile_s": compile_s, "unit": "env steps/s"}


def measure_native_c(env, num_steps: int = 2000, seed: int = 0) -> dict:
    """Env-equivalent steps/s of MuJoCo's C `mj_step`, one thread, random ctrl."""
    import mujoco
    import numpy as np

    model = env.mj_model
    data = mujoco.MjData(model)
    data.qpos[:] = np.asarray(env.qpos_home)
    rng = np.random.default_rng(seed)
    ctrl = rng.uniform(env.spec.action_low, env.spec.action_high,
                       size=(num_steps, env.spec.action_size))
    start = time.perf_counter()
    for t in range(num_steps):
        data.ctrl[:] = ctrl[t]
        for _ in range(env.n_frames):
            mujoco.mj_step(model, data)
    elapsed = time.perf_counter() - start
    return {"batch_size": 1, "steps_per_s": num_steps / elapsed, "compile_s": 0.0,
            "unit": "env steps/s"}


def _write_partial(rows: list[dict]) -> None:
    """Rows measured so far, in the temp dir (a long run on a loaded CPU may be cut short;
    not under benchmarks/, whose *.json files the throughput plot reads as suites)."""
    import json
    import tempfile

    with open(os.path.join(tempfile.gettempdir(), "bench_mjx.partial.json"), "w") as f:
        json.dump(rows, f, indent=2)


def run_suite(quick: bool = False) -> list[dict]:
    import jax

    import envs

    robots = ROBOTS
    if os.environ.get("MJX_BENCH_ROBOTS"):
        robots = tuple(os.environ["MJX_BENCH_ROBOTS"].split(","))
    batches = ACCELERATOR_BATCHES if jax.default_backend() != "cpu" else BATCHES
    if quick:
        robots, batches = robots[:1], (1, 64)
    device = device_name()
    rows = []
    for robot in robots:
        name = f"mjx/{robot}"
        env = envs.make(name)
        common = {"suite": "mjx", "name": name, "n_frames": env.n_frames, "device": device}
        c_row = measure_native_c(env, num_steps=200 if quick else 2000)
        rows.append({**common, "impl": "C mj_step", **c_row, "overhead": ""})
        for batch in batches:
            steps = _num_steps(batch, quick)
            bare = measure_bare_mjx(env, batch, steps)
            wrapped = measure_env(env, batch, steps)
            overhead = bare["steps_per_s"] / wrapped["steps_per_s"] - 1.0
            rows.append({**common, "impl": "mjx.step", **bare, "overhead": ""})
            rows.append({**common, "impl": "env", **wrapped,
                         "overhead": f"{100 * overhead:+.0f}%"})
            _write_partial(rows)
            print(f"{name} B={batch}: env {wrapped['steps_per_s']:,.0f}/s "
                  f"(compile {wrapped['compile_s']:.1f} s), mjx.step "
                  f"{bare['steps_per_s']:,.0f}/s, overhead {100 * overhead:+.0f}%", flush=True)
    return rows
