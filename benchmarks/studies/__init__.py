"""Studies: learning comparisons between algorithms and against baselines, the shipped agents,
and the scripts behind the notes of some tables (see `benchmarks.SUITES` for the ones that
are suites of `python -m launch.benchmark`)."""
