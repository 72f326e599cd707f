"""Throughput suites: env families and the training speed of the learners (see
`benchmarks.SUITES`)."""
