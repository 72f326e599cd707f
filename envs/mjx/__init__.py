"""Robots on MuJoCo MJX. Importing this package registers every `mjx/...` environment.

    env = envs.make("mjx/cheetah-vel")
    tasks = env.sample_tasks(key_tasks, 8)          # (8, task_size)
    state = env.reset(key_reset, task=tasks[0])     # a task outside the range: ValueError
    state = env.step(state, action)
    r = env.reward_fn(obs, action, next_obs, task)  # pure, for model-based planners

Registry (MJCF in `envs/mjx/assets/`, written for this project; details in each module):

  Robots          mjx/cheetah-run, mjx/ant-run, mjx/walker-run, mjx/quadruped-walk
                  (cost = 1 when |pitch| > pi/12 or |roll| > pi/6, bounds configurable),
                  mjx/point-goal (task: the goal)
  Meta-RL tasks   mjx/cheetah-vel (target speed ~ U[0, 3] m/s), mjx/cheetah-dir (+-1),
                  mjx/ant-dir (angle ~ U[0, 2 pi)), mjx/ant-goal (disc of radius 3 m),
                  mjx/walker-params (masses, inertias, damping, friction x 1.5^u,
                  u ~ U[-3, 3]), mjx/point-goal-sparse (half circle, reward within 0.2 m)
  Dynamics        mjx/cheetah-disabled-joint, mjx/ant-crippled-leg, mjx/cheetah-slope
                  (Nagabandi et al. 2019): training tasks by default; the held-out test
                  tasks, outside the training range, with `split="test"`:
                  `envs.make("mjx/cheetah-slope", split="test")`. `sample_tasks` draws from
                  the env's split and `reset(key, task=...)` rejects tasks of the other one.
  Ha et al. 2020  mjx/quadruped-multitask: the quadruped with task vectors, workspace,
                  scheduler and action filter (`envs.mjx.legged_wrappers`); a fall
                  costs 1 for each step left in the episode.

Every env exposes `env.mj_model` (mujoco.MjModel), `env.mjx_model`, `env.spec.dt` (control
period, s) and `env.n_frames` (physics steps per control step). Rendering for notebooks:
`envs.mjx.render`. Benchmarks: `python -m launch.benchmark --suite=mjx`.

Each module in `_MODULES` registers its envs with `envs.base.register` on import; a module
that does not exist is skipped, a broken import inside an existing one surfaces.
"""

import importlib

from envs.mjx.base import MjxEnv, MjxState, load_mj_model

_MODULES = ("cheetah", "ant", "walker", "point", "quadruped", "legged_wrappers")

for _module in _MODULES:
    _full = f"{__name__}.{_module}"
    try:
        importlib.import_module(_full)
    except ModuleNotFoundError as _err:
        if _err.name != _full:
            raise

__all__ = ["MjxEnv", "MjxState", "load_mj_model"]
