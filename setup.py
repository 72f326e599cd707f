"""Installable package: batched JAX simulators (MJX robots, UVA/Padova patients) and RL."""

from setuptools import find_packages, setup

setup(
    name="jaxrl_sim",
    version="0.1.0",
    description="Pure-JAX RL on batched simulators: MJX robots and virtual T1D patients.",
    python_requires=">=3.11",
    packages=find_packages(include=["rlcore*", "envs*", "algorithms*", "driver*", "launch*",
                                    "benchmarks*"]),
    package_data={"envs": ["mjx/assets/*.xml", "glucose/data/*.csv", "glucose/data/*.txt"]},
    install_requires=[
        "jax>=0.7,<0.11",
        "flax>=0.10,<0.13",
        "optax>=0.2.4,<0.3",
        # mujoco and mujoco-mjx must be the same release (a bare `pip install mujoco-mjx`
        # currently pairs mujoco 4.0 with mujoco-mjx 3.17).
        "mujoco==3.17.0",
        "mujoco-mjx==3.17.0",
        "chex>=0.1.88",
        "distrax>=0.1.5",
        "orbax-checkpoint>=0.11",
        "absl-py>=2.0",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "tensorboardX>=2.6",
        "numpy>=1.26",
        # envs/glucose/gym_adapter.py (the Gymnasium front-end); simglucose 0.2.11 pins 0.29.
        "gymnasium>=0.29",
    ],
    extras_require={
        # Test oracles: simglucose 0.2.11 (pins gymnasium 0.29, needs setuptools<81) and gymnax
        # (wants gymnasium>=1.1) cannot be resolved together; `.ci/install` installs gymnax with
        # --no-deps after this extra. Both work at run time.
        "dev": ["pytest>=7", "pytest-timeout", "pytest-xdist>=3", "ruff", "simglucose==0.2.11",
                "setuptools<81",
                "seaborn",  # gymnax imports it at import time; `--no-deps` skips it
                # colabs/ notebooks, executed by tests/notebooks (`pytest -m notebooks`)
                "nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6"],
    },
    entry_points={
        "console_scripts": [
            "rl-train=launch.train:run",
            "rl-evaluate=launch.evaluate:run",
            "rl-benchmark=launch.benchmark:run",
        ]
    },
)
