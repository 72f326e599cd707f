"""Environments as pure functions: `envs.make(name, **overrides)`."""

from envs.base import Env, EnvBase, EnvSpec, State, make, names, register

__all__ = ["Env", "EnvBase", "EnvSpec", "State", "make", "names", "register"]
