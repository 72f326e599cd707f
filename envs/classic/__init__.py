"""Small JAX-native control tasks for smoke tests."""

from envs import base
from envs.classic.pendulum import Pendulum

base.register("classic/pendulum", Pendulum)

__all__ = ["Pendulum"]
