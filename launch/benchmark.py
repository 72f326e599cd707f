"""Benchmarks from the command line: the suites of `benchmarks.SUITES`, written to `--outdir`.

    python -m launch.benchmark                       # every suite (hours on a CPU)
    python -m launch.benchmark --suite=sac,classic   # some suites
    python -m launch.benchmark --quick               # smoke run, small batches

Each suite is written to `<outdir>/<suite>.json` (rows plus a stamp: device, JAX version, date,
command) and `<outdir>/<suite>.md` (a markdown table); `<outdir>/throughput.png` then plots
every suite on disk. An unknown suite (or flag) exits with code 2 and one line `error: ...`
listing the choices (docs/exit_codes.md).
"""

from __future__ import annotations

import os
import time

from absl import app, flags

import benchmarks
from launch import presets
from launch.presets import usage_error

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defined at launch, not at import, so importing this module defines no flags."""
    flags.DEFINE_list("suite", ["all"], "Suites to run (comma separated), or 'all'. Choices: "
                      + ", ".join(benchmarks.SUITES) + ".")
    flags.DEFINE_bool("quick", False, "Small batches and few steps: a smoke run, not a figure.")
    flags.DEFINE_string("outdir", "benchmarks", "Where the json/md files go.")


def main(argv):
    del argv
    from absl import logging

    from benchmarks import report

    logging.set_verbosity(logging.WARNING)
    wanted = list(benchmarks.SUITES) if FLAGS.suite == ["all"] else FLAGS.suite
    unknown = [s for s in wanted if s not in benchmarks.SUITES]
    if unknown or not wanted:
        usage_error(f"unknown --suite={','.join(unknown)!r}. Choices: "
                    f"{', '.join(benchmarks.SUITES)}, or all.")
    for name in wanted:
        command = f"python -m launch.benchmark --suite={name}" + (" --quick" if FLAGS.quick
                                                                  else "")
        start = time.perf_counter()
        rows = benchmarks.get(name)(FLAGS.quick)
        _, md_path = report.write_suite(name, rows, FLAGS.outdir, command)
        print(f"\n## {name} ({time.perf_counter() - start:.0f} s) -> {md_path}\n")
        print(report.markdown_table(rows))
    if wanted:  # the plot covers every suite on disk, not only the ones run now
        report.plot_throughput(report.read_suites(FLAGS.outdir),
                               os.path.join(FLAGS.outdir, "throughput.png"))


def run():
    _define_flags()
    app.run(main, flags_parser=presets.parse_flags)


if __name__ == "__main__":
    run()
