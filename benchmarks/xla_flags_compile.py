"""What the tests' lowered XLA optimisation (`tests/xla_flags.py`) buys: MJX compile and run
time under each flag combination, each in a fresh process on one core.

    python -m benchmarks.xla_flags_compile     # benchmarks/xla_flags_compile.json

Programs: a 5-step scan of 4 MJX cheetahs (`wrap_for_training`, random actions), the kind of
program a test compiles, and a 100-step scan of 64 cheetahs, whose run time (env steps/s,
median of 5 calls) shows whether the flags slow the physics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks import DIR

FLAGS = {
    "default": "",
    "level 0": "--xla_backend_optimization_level=0",
    "level 0, no CPU fusion emitters": ("--xla_backend_optimization_level=0 "
                                        "--xla_cpu_use_fusion_emitters=false"),
    "no CPU fusion emitters": "--xla_cpu_use_fusion_emitters=false",
}
PROGRAMS = ((4, 5), (64, 100))  # (batch, steps)

_CHILD = """
import json, sys
import envs
from benchmarks.measure import compiled_rollout, median_call_seconds
batch, steps = int(sys.argv[1]), int(sys.argv[2])
call, compile_s = compiled_rollout(envs.make("mjx/cheetah-run"), batch, steps, seed=0)
run_s = median_call_seconds(call, min_total_s=0.5, max_calls=5)
print(json.dumps({"compile_s": compile_s, "env_steps_per_s": batch * steps / run_s}))
"""


def measure(flags: str, batch: int, steps: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # a cached program would compile in no time
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", _CHILD, str(batch),
                          str(steps)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from benchmarks.measure import device_name
    from benchmarks.report import write_json

    rows = []
    for label, flags in FLAGS.items():
        for batch, steps in PROGRAMS:
            row = {"flags": label, "batch": batch, "steps": steps, **measure(flags, batch, steps),
                   "device": device_name() + ", one core (taskset -c 0)"}
            print(row, flush=True)
            rows.append(row)
    write_json(os.path.join(DIR, "xla_flags_compile.json"), rows)


if __name__ == "__main__":
    main()
