"""Robots on MuJoCo MJX. Importing this package registers every `mjx/...` environment.

Each module in `_MODULES` registers its envs with `envs.base.register` on import; a module
that does not exist (yet) is skipped, a broken import inside an existing one surfaces.
"""

import importlib

from envs.mjx.base import MjxEnv, load_mj_model

_MODULES = ("cheetah", "ant", "walker", "point", "quadruped", "legged_wrappers")

for _module in _MODULES:
    _full = f"{__name__}.{_module}"
    try:
        importlib.import_module(_full)
    except ModuleNotFoundError as _err:
        if _err.name != _full:
            raise

__all__ = ["MjxEnv", "load_mj_model"]
