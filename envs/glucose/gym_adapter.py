"""Gymnasium and simglucose front-ends for the JAX glucose environment: numpy in, numpy out.

    env = GlucoseGymEnv("glucose/adult#001")                      # a gymnasium.Env
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.array([1.2], np.float32))  # U/h

    from simglucose.controller.basal_bolus_ctrller import BBController
    sim = SimglucoseStyleEnv("glucose/adult#001", announce_meals=True)
    obs, reward, done, info = sim.reset(seed=0)
    obs, reward, done, info = sim.step(BBController().policy(obs, reward, done, **info))

    traces = run_controller(BBController(), "glucose/adult#001", seed=0, announce_meals=True)

`GlucoseGymEnv` wraps one (unbatched) `GlucoseEnv`; its `reset` and `step` are jitted once, so
an episode costs one compilation of each and then one dispatch per step. It is for code that
wants the Gymnasium API (other RL libraries, hand-written controllers); training here runs the
pure functions batched (`envs.wrappers`).

Keys: `reset(seed=s)` splits `jax.random.key(s)` into a stream key and the episode's reset key
(`reset_key(s)`), so `env.reset(seed=s)` starts the same episode as the JAX env's
`reset(reset_key(s))`; a later `reset()` without a seed splits the stream key again. The first
`reset()` without any seed draws one from Gymnasium's `np_random` (OS entropy).

`SimglucoseStyleEnv` speaks simglucose 0.2.11's `T1DSimEnv` protocol, so a controller written
for simglucose (`policy(observation, reward, done, **info) -> Action(basal, bolus)`) runs
unchanged: see its docstring for the units and for where its values differ from simglucose's.
"""

from __future__ import annotations

import datetime
from collections import namedtuple
from typing import Any

import gymnasium
import jax
import numpy as np
from gymnasium import spaces

import envs
from envs.glucose import metrics
from envs.glucose.env import GlucoseEnv

# simglucose's `simulation.env.Observation` and `Step` (same names and fields), defined here so
# the adapter does not import simglucose (pandas, matplotlib) to run a controller.
Observation = namedtuple("Observation", ["CGM"])
Step = namedtuple("Step", ["observation", "reward", "done", "info"])

# simglucose's gym env starts its scenarios on this day (`simglucose_gym_env.T1DSimEnv`).
SIMGLUCOSE_START_DAY = datetime.datetime(2018, 1, 1)


def _split_seed(seed: int) -> tuple[jax.Array, jax.Array]:
    """(stream key for later unseeded resets, reset key of the seeded episode)."""
    key_stream, key_reset = jax.random.split(jax.random.key(seed))
    return key_stream, key_reset


def reset_key(seed: int) -> jax.Array:
    """The JAX reset key of the episode that `GlucoseGymEnv.reset(seed=seed)` starts."""
    return _split_seed(seed)[1]


def _make_glucose_env(env: str | GlucoseEnv, env_args: dict[str, Any]) -> GlucoseEnv:
    if isinstance(env, str):
        env = envs.make(env, **env_args)
    elif env_args:
        raise ValueError(f"env_args {sorted(env_args)} only apply to an env given by name.")
    if not isinstance(env, GlucoseEnv):
        raise TypeError(f"Expected a glucose env name or a GlucoseEnv, got {type(env).__name__}.")
    return env


class GlucoseGymEnv(gymnasium.Env):
    """A `GlucoseEnv` as a `gymnasium.Env` (one patient per episode, unbatched).

    Observation: the JAX env's float32 `(obs_size,)` vector (see `envs.glucose.env`), in an
    unbounded Box (insulin on board has no upper bound). Action: insulin rate in U/h, float32
    `(1,)`; the Box is the learners' range `[0, max_action_u_per_h]`, but larger rates are passed
    on unclipped (the pump delivers boluses up to its own limit), as the JAX env does.
    Reward, termination: the JAX env's. Truncation: after `spec.episode_length` steps.
    Info: python floats, the JAX env's `info` (bg, cgm, insulin_u_per_h, meal_g, meal_next_g,
    nan_actions, patient) plus `cost` (1.0 below 70 mg/dL).

    `env.spec` is Gymnasium's (None: not registered with `gymnasium.make`); the JAX env's spec
    is `env.jax_env.spec`.
    """

    metadata = {"render_modes": []}

    def __init__(self, env: str | GlucoseEnv = "glucose/adult#001", **env_args: Any):
        self.jax_env = _make_glucose_env(env, env_args)
        spec = self.jax_env.spec
        self.observation_space = spaces.Box(-np.inf, np.inf, (spec.obs_size,), np.float32)
        self.action_space = spaces.Box(np.asarray(spec.action_low, np.float32),
                                       np.asarray(spec.action_high, np.float32),
                                       dtype=np.float32)
        # Jitted once here: every later call with a float32 (1,) action hits the cache.
        self._reset_fn = jax.jit(self.jax_env.reset)
        self._step_fn = jax.jit(self.jax_env.step)
        self._key_stream: jax.Array | None = None
        self.jax_state = None  # the JAX `State` after the latest reset or step
        self.last_info: dict[str, float] = {}
        self.num_steps = 0
        self._episode_over = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, float]]:
        """Starts an episode. `options={"task": i}` picks patient `i` of a population env
        (its first use compiles reset a second time); without it a patient is drawn."""
        options = dict(options or {})
        task = options.pop("task", None)
        if options:
            raise ValueError(f"Unknown reset options {sorted(options)}; known: ['task'].")
        if task is not None:
            # The JAX env checks a concrete task, but under jit it only clips: check it here.
            num_patients = self.jax_env.num_patients
            if not (np.ndim(task) == 0 and float(task) == int(task)
                    and 0 <= int(task) < num_patients):
                raise ValueError(f"options['task'] must be a patient index in "
                                 f"[0, {num_patients}), got {task!r}.")
            task = np.full((1,), task, np.float32)
        super().reset(seed=seed)  # seeds Gymnasium's np_random (check_env looks at it)
        if seed is not None:
            self._key_stream, key_reset = _split_seed(seed)
        else:
            if self._key_stream is None:
                self._key_stream = jax.random.key(int(self.np_random.integers(2**31)))
            self._key_stream, key_reset = jax.random.split(self._key_stream)
        self.jax_state = self._reset_fn(key_reset, task)
        self.num_steps = 0
        self._episode_over = False
        obs, _, _, info = self._to_host(self.jax_state)
        self.last_info = info
        return obs, info

    def step(self, action: np.ndarray
             ) -> tuple[np.ndarray, float, bool, bool, dict[str, float]]:
        """One control step (`jax_env.dt_min` minutes) at `action` U/h."""
        if self.jax_state is None:
            raise RuntimeError("Call reset() before step().")
        if self._episode_over:
            raise RuntimeError("The episode has ended (terminated or truncated); call reset().")
        action = self._check_action(action)
        self.jax_state = self._step_fn(self.jax_state, action)
        self.num_steps += 1
        obs, reward, terminated, info = self._to_host(self.jax_state)
        truncated = self.num_steps >= self.jax_env.spec.episode_length
        self._episode_over = terminated or truncated
        self.last_info = info
        return obs, reward, terminated, truncated, info

    def _check_action(self, action) -> np.ndarray:
        # Checked here, not in the jitted step: a wrong shape would otherwise compile a new
        # program (or fail deep inside the trace) instead of raising at the call.
        try:
            action = np.asarray(action, np.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{self.jax_env.spec.name}: action must be numeric, "
                             f"got {action!r}.") from err
        if action.shape != self.action_space.shape:
            raise ValueError(f"{self.jax_env.spec.name}: action has shape {action.shape}, "
                             f"expected {self.action_space.shape} (insulin rate in U/h).")
        return action

    @staticmethod
    def _to_host(state) -> tuple[np.ndarray, float, bool, dict[str, float]]:
        # One device_get for everything the step returns.
        obs, reward, done, cost, info = jax.device_get(
            (state.obs, state.reward, state.done, state.cost, state.info))
        info = {k: float(v) for k, v in info.items()}
        info["cost"] = float(cost)
        return np.array(obs, np.float32), float(reward), bool(done > 0), info


class SimglucoseStyleEnv:
    """simglucose's `T1DSimEnv` protocol over a `GlucoseGymEnv`: `reset()`/`step(action)` ->
    `Step(observation, reward, done, info)`.

    Action: simglucose's `Action(basal, bolus)` (`simglucose.controller.base`), both insulin
    rates in U/min held over the control step (simglucose's env adds them; its BBController
    divides a bolus in U by the sample time). Each is floored at 0 as simglucose's pump does
    (NaN passes on and is counted in `last_info["nan_actions"]`); the sum, times 60, is the
    JAX env's U/h.

    Observation: `Observation(CGM=mg/dL)`, the reading at the end of the step.
    Info (simglucose's keys):
      * `sample_time`: control step, min; `patient_name`: e.g. "adult#001";
      * `meal`: carbs in g/min averaged over a step, as simglucose's env reports them (its
        BBController multiplies by `sample_time` to get grams). With `self.announce_meals` (by
        default the JAX env's `announce_meals`) the carbs starting in the coming step, so a
        meal bolus goes with the meal, as `controllers.basal_bolus` gives it; otherwise the
        carbs that started in the step just simulated, as simglucose's env reports them (0 at
        reset), so its BBController boluses one step after the meal starts;
      * `time`: `datetime`, `start_day` plus the env's `start_hour` plus elapsed minutes;
      * `bg`: blood glucose after the step, mg/dL; `lbgi`, `hbgi`, `risk`: Kovatchev's risk of it;
      * `patient_state`: the 13 UVA/Padova compartments, float `(13,)`, simglucose's order.
    Reward: the JAX env's (`reward=` option), not simglucose's risk difference. `done`:
    termination (the JAX env's thresholds) or the time limit.
    Differences from simglucose's env: its `bg` and `CGM` are averages over the step's minutes
    of subcutaneous glucose and of the sensor's held readings; here both are end-of-step values
    (plasma glucose for `bg`), as the JAX env defines them.
    The JAX env's own info (delivered insulin, carbs) is `last_info` after each call.
    """

    def __init__(self, env: str | GlucoseEnv | GlucoseGymEnv = "glucose/adult#001",
                 start_day: datetime.datetime = SIMGLUCOSE_START_DAY, **env_args: Any):
        if isinstance(env, GlucoseGymEnv):
            if env_args:
                raise ValueError(f"env_args {sorted(env_args)} only apply to an env by name.")
            self.gym_env = env
        else:
            self.gym_env = GlucoseGymEnv(env, **env_args)
        config = self.gym_env.jax_env.config
        self.sample_time = float(self.gym_env.jax_env.dt_min)
        self.announce_meals = config.announce_meals
        self.start_time = start_day + datetime.timedelta(hours=config.start_hour)
        self._risk = jax.jit(metrics.kovatchev_risk)
        self.last_info: dict[str, float] = {}

    @property
    def time(self) -> datetime.datetime:
        """The simulated clock now (simglucose's `env.time`)."""
        return self.start_time + datetime.timedelta(
            minutes=self.gym_env.num_steps * self.sample_time)

    def reset(self, seed: int | None = None) -> Step:
        _, info = self.gym_env.reset(seed=seed)
        meal_g = info["meal_next_g"] if self.announce_meals else 0.0
        return self._make_step(info, reward=0.0, done=False, meal_g=meal_g)

    def step(self, action) -> Step:
        """One control step under simglucose's `Action(basal=U/min, bolus=U/min)`."""
        try:
            basal, bolus = action.basal, action.bolus
        except AttributeError as err:
            raise ValueError("SimglucoseStyleEnv.step expects simglucose's Action(basal=U/min, "
                             f"bolus=U/min), got {action!r}.") from err
        try:
            basal, bolus = float(np.asarray(basal).item()), float(np.asarray(bolus).item())
        except (TypeError, ValueError) as err:
            raise ValueError(f"Action basal and bolus must be numbers (U/min), got {action!r}."
                             ) from err
        rate_u_per_h = (np.maximum(basal, 0.0) + np.maximum(bolus, 0.0)) * 60.0
        _, reward, terminated, truncated, info = self.gym_env.step(
            np.array([rate_u_per_h], np.float32))
        meal_g = info["meal_next_g"] if self.announce_meals else info["meal_g"]
        return self._make_step(info, reward=reward, done=terminated or truncated, meal_g=meal_g)

    def _make_step(self, info: dict[str, float], reward: float, done: bool,
                   meal_g: float) -> Step:
        self.last_info = info
        jax_env = self.gym_env.jax_env
        lbgi, hbgi = (float(r) for r in self._risk(np.float32(info["bg"])))
        patient_state = np.array(
            [float(v) for v in jax.device_get(self.gym_env.jax_state.env_state.patient.x)])
        sim_info = {
            "sample_time": self.sample_time,
            "patient_name": jax_env.config.patients[int(info["patient"])],
            "meal": meal_g / self.sample_time,  # g/min, simglucose's unit
            "patient_state": patient_state,
            "time": self.time,
            "bg": info["bg"],
            "lbgi": lbgi,
            "hbgi": hbgi,
            "risk": lbgi + hbgi,
        }
        return Step(observation=Observation(CGM=info["cgm"]), reward=reward, done=done,
                    info=sim_info)


TRACE_KEYS = ("bg", "cgm", "insulin_u_per_h", "meal_g")


def run_controller(controller, env: str | GlucoseEnv | GlucoseGymEnv | SimglucoseStyleEnv
                   = "glucose/adult#001", steps: int | None = None, seed: int = 0,
                   **env_args: Any) -> dict[str, np.ndarray]:
    """Runs a simglucose-style controller (`policy(obs, reward, done, **info)`, `reset()`)
    as simglucose's `SimObj.simulate` does, for `steps` control steps (default: the episode).

    Returns float32 `(T,)` traces, one value per step, after it: `bg` and `cgm` (mg/dL),
    `insulin_u_per_h` (delivered), `meal_g` (carbs that started in the step). T < `steps`
    when the episode terminates early.
    """
    if isinstance(env, SimglucoseStyleEnv) and env_args:
        raise ValueError(f"env_args {sorted(env_args)} only apply to an env given by name.")
    sim = env if isinstance(env, SimglucoseStyleEnv) else SimglucoseStyleEnv(env, **env_args)
    episode_length = sim.gym_env.jax_env.spec.episode_length
    steps = episode_length if steps is None else steps
    if not 0 < steps <= episode_length:
        raise ValueError(f"steps must lie in [1, {episode_length}] (the episode), got {steps}.")
    controller.reset()
    obs, reward, done, info = sim.reset(seed=seed)
    traces = {k: [] for k in TRACE_KEYS}
    for _ in range(steps):
        action = controller.policy(obs, reward, done, **info)
        obs, reward, done, info = sim.step(action)
        for k in TRACE_KEYS:
            traces[k].append(sim.last_info[k])
        if done:
            break
    return {k: np.asarray(v, np.float32) for k, v in traces.items()}
