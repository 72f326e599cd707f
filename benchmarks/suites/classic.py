"""Suite `classic`: env steps/s of every `classic/*` env through the training stack.

    python -m launch.benchmark --suite=classic

Batches 1, 1,024 and 16,384 (1 and 256 with `--quick`), 1,000-step rollouts
(`benchmarks.measure.measure_env`).
"""

from __future__ import annotations

from benchmarks.measure import device_name, measure_env


def run_suite(quick: bool = False) -> list[dict]:
    import envs

    rows = []
    for name in [n for n in envs.names() if n.startswith("classic/")]:
        for batch in ((1, 256) if quick else (1, 1024, 16_384)):
            row = measure_env(envs.make(name), batch, 200 if quick else 1000)
            rows.append({"suite": "classic", "name": name, **row, "device": device_name()})
    return rows
