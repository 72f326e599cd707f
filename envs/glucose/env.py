"""The insulin-dosing environment: a virtual T1D patient, CGM, pump and random meals.

    env = envs.make("glucose/adult#001")            # one patient
    env = envs.make("glucose/adults")               # a patient drawn per episode (the task)

Control step = the sensor's sample time (GuardianRT: 5 min by default), the patient ODE
sub-stepped at 1 minute (`envs.glucose.patient`). Axis letters: H history length.

Observation (float32, `(2 H + 3 [+1],)`):
  * the last H CGM readings, mg/dL / 100 (oldest first);
  * the last H delivered insulin rates, in multiples of the patient's basal rate;
  * insulin on board, in hours of basal (the pump's bookkeeping, below);
  * time of day as (sin, cos);
  * only with `announce_meals=True`: carbs starting in the coming step, g / 100.
No meal information otherwise: the fully automated artificial pancreas.

Action: insulin rate in U/h, `(1,)`, in `[0, max_action_u_per_h]` for learners; the pump
accepts more (up to its basal limit plus a bolus per step, so baseline controllers can bolus)
and delivers in 0.05 U increments. NaN, infinite or negative actions deliver no insulin, rates
above the pump's limit deliver its limit; `info["nan_actions"]` counts such actions since reset
(docs/hostile_actions.md).

Reward (`reward=`): "magni" (default) -Magni risk / 100 of the blood glucose after the step
(Fox et al. 2020), "risk_index" -Kovatchev risk / 100, "tir" 1 inside 70-180 mg/dL else 0.
Termination (blood glucose < `bg_low_mg_dl` or > `bg_high_mg_dl`, default 40 / 600) adds
`-termination_penalty`, so ending an episode early never pays. `cost` = 1 when blood glucose
< 70 mg/dL (hypoglycaemia), the constraint of safety-constrained learners.

Insulin on board: a two-compartment model of rapid-acting insulin (time constant 55 min, peak
action near 1 h, ~95% absorbed after 4 h) driven by the delivered insulin, as a pump computes
it from its delivery log; it counts all delivered insulin (basal included).

Task: the patient index within the env's patient list, `task = [index]` (float32). With more
than one patient a new patient is drawn at every reset (`draw_task_per_episode`), and
meta-learners pass their own tasks (held-out patients) to `reset(key, task=...)`.

Physiology options beyond simglucose (see `envs.glucose.patient`): `si_scale` (insulin
sensitivity, e.g. 0.7 / 1.3 for the +-30% robustness test), `si_profile_24h` and
`dawn_egp_mg_kg_min` (intraday sensitivity and dawn phenomenon), and `init_glucose_mg_dl`
(a (low, high) range: a random initial glucose with its steady state recomputed).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.base import EnvBase, EnvSpec, State
from envs.glucose import meals as meals_lib
from envs.glucose import metrics, patient, population
from envs.glucose import pump as pump_lib
from envs.glucose import scenario as scenario_lib
from envs.glucose import sensor as sensor_lib

IOB_TAU_MIN = 55.0
REWARDS = ("magni", "risk_index", "tir")


@dataclasses.dataclass(frozen=True)
class GlucoseConfig:
    """Settings of the environment (hashable, static under jit).

    Attributes:
      patients: patient names; the task indexes them.
      sensor: CGM model name (GuardianRT 5 min, Dexcom 3 min, Navigator 1 min); its sample time
        is the control step.
      sensor_noise: add the Johnson-system CGM noise (False: CGM = subcutaneous glucose).
      pump: pump model name (Insulet, Cozmo).
      episode_days: time limit in days, in (0, 10]. Meals are drawn for the days it covers,
        so a longer time limit set outside the env (`EpisodeWrapper`) is refused.
      history: H, CGM and insulin readings in the observation.
      announce_meals: put the coming step's carbs in the observation.
      max_action_u_per_h: upper action bound of learners, U/h.
      reward: one of REWARDS ("magni", "risk_index", "tir"; the module docstring).
      termination_penalty: subtracted from the reward on termination.
      bg_low_mg_dl, bg_high_mg_dl: termination thresholds on blood glucose, mg/dL.
      start_hour: time of day at the episode start.
      meal_scale: meal size multiplier (random days and scenarios).
      meal_skip_prob: probability that a drawn meal is missed (random days only).
      meal_delay_min: every meal this many minutes late (random days and scenarios).
      si_scale: insulin-sensitivity multiplier.
      si_profile_24h: 24 hourly insulin-sensitivity multipliers, or None (flat).
      dawn_egp_mg_kg_min: peak extra glucose production at 06:00 (0: no dawn phenomenon).
      init_glucose_mg_dl: None (the table's steady state) or a (low, high) uniform range.
      scenario: None (random meal days) or fixed meal days: a `scenario.Scenario`, the path of
        a scenario CSV (`envs.glucose.scenario`) or `(minute, carbs g)` pairs for every
        patient. An episode replays scenario day `d` (drawn per reset, or given to `reset`).
    """

    patients: tuple[str, ...] = ("adult#001",)
    sensor: str = "GuardianRT"
    sensor_noise: bool = True
    pump: str = "Insulet"
    episode_days: float = 1.0
    history: int = 12
    announce_meals: bool = False
    max_action_u_per_h: float = 30.0
    reward: str = "magni"
    termination_penalty: float = 100.0
    bg_low_mg_dl: float = 40.0
    bg_high_mg_dl: float = 600.0
    start_hour: float = 0.0
    meal_scale: float = 1.0
    meal_skip_prob: float = 0.0
    meal_delay_min: float = 0.0
    si_scale: float = 1.0
    si_profile_24h: tuple[float, ...] | None = None
    dawn_egp_mg_kg_min: float = 0.0
    init_glucose_mg_dl: tuple[float, float] | None = None
    scenario: scenario_lib.Scenario | None = None

    def __post_init__(self):
        if isinstance(self.scenario, str):
            object.__setattr__(self, "scenario", scenario_lib.read_csv(self.scenario))
        elif self.scenario is not None and not isinstance(self.scenario, scenario_lib.Scenario):
            object.__setattr__(self, "scenario", scenario_lib.from_pairs(self.scenario))
        if not self.patients:
            raise ValueError("patients: give at least one patient name.")
        for name in self.patients:
            population.check_name(name)
        sensor_lib.sensor(self.sensor)
        pump_lib.pump(self.pump)
        if not 0 < self.episode_days <= 10:
            raise ValueError(f"episode_days must lie in (0, 10], got {self.episode_days}.")
        if self.history < 1:
            raise ValueError(f"history must be >= 1, got {self.history}.")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}.")
        if not self.max_action_u_per_h > 0:
            raise ValueError("max_action_u_per_h must be > 0.")
        if not 0 <= self.bg_low_mg_dl < self.bg_high_mg_dl:
            raise ValueError("need 0 <= bg_low_mg_dl < bg_high_mg_dl.")
        if self.si_scale <= 0:
            raise ValueError("si_scale must be > 0.")
        if self.si_profile_24h is not None and len(self.si_profile_24h) != 24:
            raise ValueError("si_profile_24h needs 24 hourly multipliers.")
        if self.init_glucose_mg_dl is not None:
            lo, hi = self.init_glucose_mg_dl
            if not 40 < lo <= hi < 600:
                raise ValueError("init_glucose_mg_dl must be a range inside (40, 600).")
        if self.scenario is not None:
            if self.meal_skip_prob:
                raise ValueError("meal_skip_prob applies to random meal days, not to a scenario.")
            self.scenario.dense(self.patients)  # every patient must have its meals

    @property
    def dt_min(self) -> float:
        return sensor_lib.sensor(self.sensor).sample_time_min

    @property
    def episode_steps(self) -> int:
        return int(round(self.episode_days * patient.MINUTES_PER_DAY / self.dt_min))


@struct.dataclass
class GlucoseState:
    """Everything the env carries between steps (one patient; a batch axis when vmapped)."""

    params: patient.PatientParams  # this episode's physiology
    patient: patient.PatientState
    sensor: sensor_lib.SensorState
    meals: meals_lib.Meals
    pump_residual_u: jax.Array  # insulin requested but not yet delivered, U
    iob_compartments_u: jax.Array  # (2,) insulin-on-board model, U
    cgm_history: jax.Array  # (H,) mg/dL, oldest first
    insulin_history: jax.Array  # (H,) delivered U/h, oldest first
    minute: jax.Array  # float32, minutes since the episode start
    therapy: jax.Array  # (3,) carb ratio g/U, correction factor mg/dL/U, basal U/h


class GlucoseEnv(EnvBase):
    """See the module docstring."""

    def __init__(self, config: GlucoseConfig, name: str = "glucose"):
        self.config = config
        self.sensor_params = sensor_lib.sensor(config.sensor)
        self.pump_params = pump_lib.pump(config.pump)
        self.dt_min = config.dt_min
        self.num_patients = len(config.patients)
        self.draw_task_per_episode = self.num_patients > 1
        self._table = patient.stacked_params(list(config.patients))
        self._therapy = jnp.asarray(np.array([
            (t.carb_ratio_g_per_u, t.correction_factor_mg_dl_per_u, population.basal_u_per_h(n))
            for n, t in ((n, population.therapy(n)) for n in config.patients)], np.float32))
        # Meals are drawn for the days the episode covers, no more: they are most of a
        # reset's cost. A longer time limit set outside the env is refused (EpisodeWrapper).
        self.meal_days = int(math.ceil(config.episode_days + config.start_hour / 24.0))
        self.max_episode_steps = int(
            (self.meal_days * patient.MINUTES_PER_DAY - config.start_hour * 60.0) // self.dt_min)
        self.scenario_days = 0 if config.scenario is None else config.scenario.num_days
        if config.scenario is not None:
            minute, carbs = config.scenario.dense(config.patients)
            self._scenario_minute, self._scenario_carbs = jnp.asarray(minute), jnp.asarray(carbs)
        obs_size = 2 * config.history + 3 + int(config.announce_meals)
        self.spec = EnvSpec(name=name, obs_size=obs_size, action_size=1, action_low=(0.0,),
                            action_high=(float(config.max_action_u_per_h),), dt=self.dt_min,
                            episode_length=config.episode_steps, task_size=1)

    # ------------------------------------------------------------------ tasks (patients)
    def sample_tasks(self, key: jax.Array, num_tasks: int) -> jax.Array:
        """`(num_tasks, 1)` patient indices drawn uniformly from the env's patients."""
        # 32 random bits modulo the number of patients (bias < 1e-8): one threefry call where
        # `randint` makes three, and this runs in every batched reset.
        bits = jax.random.bits(key, (num_tasks,), jnp.uint32)
        return (bits % jnp.uint32(self.num_patients)).astype(jnp.float32)[:, None]

    def patient_index(self, task: jax.Array) -> jax.Array:
        return jnp.clip(jnp.round(task[0]).astype(jnp.int32), 0, self.num_patients - 1)

    def _episode_params(self, index: jax.Array, key: jax.Array) -> patient.PatientParams:
        c = self.config
        p = jax.tree.map(lambda a: a[index], self._table)
        if c.init_glucose_mg_dl is not None:
            g0 = jax.random.uniform(key, (), minval=c.init_glucose_mg_dl[0],
                                    maxval=c.init_glucose_mg_dl[1])
            p = patient.with_initial_glucose(p, g0)
        profile = (jnp.ones((24,), jnp.float32) if c.si_profile_24h is None
                   else jnp.asarray(c.si_profile_24h, jnp.float32))
        return p.replace(si_scale=jnp.float32(c.si_scale), si_profile_24h=profile,
                         dawn_egp_mg_kg_min=jnp.float32(c.dawn_egp_mg_kg_min))

    # ------------------------------------------------------------------ contract
    def reset(self, key: jax.Array, task: Any = None, scenario_day: Any = None) -> State:
        """The contract's reset; with a scenario, `scenario_day` picks the day the episode
        starts on (default: drawn uniformly from the key)."""
        c = self.config
        key_task, key_glucose, key_meals, key_sensor = jax.random.split(key, 4)
        if task is None:
            task = self.sample_tasks(key_task, 1)[0]
        else:
            task = jnp.asarray(task, jnp.float32).reshape((1,))
            if not isinstance(task, jax.core.Tracer):
                index = float(task[0])
                if index != round(index) or not 0 <= index < self.num_patients:
                    raise ValueError(f"task {index} is not a patient index in "
                                     f"[0, {self.num_patients}).")
        index = self.patient_index(task)
        params = self._episode_params(index, key_glucose)
        start_min = c.start_hour * 60.0
        pstate = patient.initial_state(params, start_min)
        if c.scenario is None:
            meal_plan = meals_lib.random_day_meals(
                key_meals, self.meal_days, start_min, c.meal_scale, c.meal_skip_prob,
                c.meal_delay_min)
        else:
            meal_plan = self._scenario_meals(index, key_meals, scenario_day)
        sensor_state = sensor_lib.init(self.sensor_params, key_sensor)
        cgm, sensor_state = self._measure(params, pstate, sensor_state)
        therapy = self._therapy[index]
        gs = GlucoseState(
            params=params, patient=pstate, sensor=sensor_state, meals=meal_plan,
            pump_residual_u=jnp.zeros((), jnp.float32),
            iob_compartments_u=_iob_steady_state(patient.basal_u_per_min(params)),
            cgm_history=jnp.full((c.history,), cgm),
            insulin_history=jnp.full((c.history,), therapy[2]),
            minute=jnp.zeros((), jnp.float32), therapy=therapy)
        bg = patient.blood_glucose(params, pstate)
        zero = jnp.zeros((), jnp.float32)
        info = {"bg": bg, "cgm": cgm, "insulin_u_per_h": therapy[2], "meal_g": zero,
                "meal_next_g": self._meal_next(gs), "nan_actions": zero,
                "patient": index.astype(jnp.float32)}
        return State(env_state=gs, obs=self._observe(gs), reward=zero, cost=zero, done=zero,
                     info=info, task=task)

    def step(self, state: State, action: jax.Array) -> State:
        c = self.config
        # Hostile actions (`EnvBase.check_action`): NaN and +-inf deliver no insulin (the safe
        # action, 0 U/h), finite rates are clipped to [0, the pump's limit]: more than the
        # learners' box (`spec.action_high`) so that baseline controllers can bolus. The
        # entries outside are counted in info["nan_actions"] since reset.
        max_rate_u_per_h = (pump_lib.max_dose_u(self.pump_params, self.dt_min)
                            * 60.0 / self.dt_min)
        action, num_bad = self.check_action(action, low=0.0, high=max_rate_u_per_h)
        rate = action[0]
        gs = state.env_state
        delivered_u, residual = pump_lib.deliver(self.pump_params, rate, gs.pump_residual_u,
                                                 self.dt_min)
        insulin_u_per_min = delivered_u / self.dt_min
        num_minutes = int(round(self.dt_min))

        def minute_step(carry, offset):
            pstate, iob = carry
            meal_g = meals_lib.carbs_at(gs.meals, gs.minute + offset)
            pstate = patient.step(gs.params, pstate, meal_g, insulin_u_per_min)
            iob = _iob_step(iob, insulin_u_per_min)
            return (pstate, iob), meal_g

        (pstate, iob), meal_g = jax.lax.scan(
            minute_step, (gs.patient, gs.iob_compartments_u),
            jnp.arange(num_minutes, dtype=jnp.float32))
        cgm, sensor_state = self._measure(gs.params, pstate, gs.sensor)
        rate_delivered = delivered_u * 60.0 / self.dt_min
        gs = gs.replace(
            patient=pstate, sensor=sensor_state, pump_residual_u=residual,
            iob_compartments_u=iob,
            cgm_history=jnp.concatenate([gs.cgm_history[1:], cgm[None]]),
            insulin_history=jnp.concatenate([gs.insulin_history[1:], rate_delivered[None]]),
            minute=gs.minute + self.dt_min)
        bg = patient.blood_glucose(gs.params, pstate)
        done = ((bg < c.bg_low_mg_dl) | (bg > c.bg_high_mg_dl)).astype(jnp.float32)
        reward = self._reward(bg) - c.termination_penalty * done
        info = dict(state.info, bg=bg, cgm=cgm, insulin_u_per_h=rate_delivered,
                    meal_g=meal_g.sum(), meal_next_g=self._meal_next(gs),
                    nan_actions=state.info["nan_actions"] + num_bad)
        return state.replace(env_state=gs, obs=self._observe(gs), reward=reward,
                             cost=(bg < 70.0).astype(jnp.float32), done=done, info=info)

    def evaluation_trace(self, state: State) -> dict[str, jax.Array]:
        return {"bg": state.info["bg"]}

    def evaluation_metrics(self, trace: dict[str, jax.Array], alive: jax.Array
                           ) -> dict[str, jax.Array]:
        """`eval/tir` (70-180 mg/dL), `eval/tbr70` (< 70), `eval/tbr54` (< 54): fractions of
        each episode's steps (true blood glucose), averaged over episodes."""
        bg, steps = trace["bg"], alive.sum(0)

        def fraction(inside):
            return ((inside * alive).sum(0) / steps).mean()

        return {"eval/tir": fraction((bg >= metrics.TIR_LOW) & (bg <= metrics.TIR_HIGH)),
                "eval/tbr70": fraction(bg < metrics.TIR_LOW),
                "eval/tbr54": fraction(bg < metrics.TBR_SEVERE)}

    def observation_groups(self) -> dict[str, slice]:
        """Named slices of the observation (for attributions): CGM history, insulin history,
        insulin on board, time of day and, when announced, the meal."""
        h = self.config.history
        groups = {"CGM history": slice(0, h), "insulin history": slice(h, 2 * h),
                  "insulin on board": slice(2 * h, 2 * h + 1),
                  "time of day": slice(2 * h + 1, 2 * h + 3)}
        if self.config.announce_meals:
            groups["announced meal"] = slice(2 * h + 3, 2 * h + 4)
        return groups

    # ------------------------------------------------------------------ pieces
    def _scenario_meals(self, index, key, scenario_day) -> meals_lib.Meals:
        """The scenario's meals for the `meal_days` days from `scenario_day` on (wrapping
        after its last day), in episode minutes; meals before the start hour are dropped."""
        c = self.config
        if scenario_day is None:
            scenario_day = jax.random.randint(key, (), 0, self.scenario_days)
        days = (jnp.asarray(scenario_day, jnp.int32) + jnp.arange(self.meal_days)) % (
            self.scenario_days)
        minute = self._scenario_minute[index][days]  # (meal_days, M)
        carbs = self._scenario_carbs[index][days] * c.meal_scale
        offset = jnp.arange(self.meal_days, dtype=jnp.float32)[:, None] * patient.MINUTES_PER_DAY
        time = offset + minute + c.meal_delay_min - c.start_hour * 60.0
        carbs = jnp.where(time >= 0, carbs, 0.0)
        return meals_lib.Meals(time_min=time.reshape(-1).astype(jnp.float32),
                               carbs_g=carbs.reshape(-1).astype(jnp.float32))

    def _measure(self, params, pstate, sensor_state):
        gs_mg_dl = patient.subcutaneous_glucose(params, pstate)
        if self.config.sensor_noise:
            return sensor_lib.measure(self.sensor_params, sensor_state, gs_mg_dl)
        cgm = jnp.clip(gs_mg_dl, self.sensor_params.min_mg_dl, self.sensor_params.max_mg_dl)
        return cgm.astype(jnp.float32), sensor_state

    def _meal_next(self, gs: GlucoseState) -> jax.Array:
        return meals_lib.carbs_between(gs.meals, gs.minute, gs.minute + self.dt_min)

    def _reward(self, bg: jax.Array) -> jax.Array:
        if self.config.reward == "magni":
            return -metrics.magni_risk(bg) / 100.0
        if self.config.reward == "risk_index":
            rl, rh = metrics.kovatchev_risk(bg)
            return -(rl + rh) / 100.0
        return ((bg >= 70.0) & (bg <= 180.0)).astype(jnp.float32)

    def _observe(self, gs: GlucoseState) -> jax.Array:
        basal = gs.therapy[2]
        time_of_day = (gs.minute + self.config.start_hour * 60.0) / patient.MINUTES_PER_DAY
        angle = 2.0 * jnp.pi * time_of_day
        parts = [gs.cgm_history / 100.0, gs.insulin_history / basal,
                 (gs.iob_compartments_u.sum() / basal)[None], jnp.sin(angle)[None],
                 jnp.cos(angle)[None]]
        if self.config.announce_meals:
            parts.append((self._meal_next(gs) / 100.0)[None])
        return jnp.concatenate(parts).astype(jnp.float32)


def _iob_steady_state(insulin_u_per_min: jax.Array) -> jax.Array:
    """The insulin-on-board compartments after a long time at a constant rate, U."""
    decay = math.exp(-1.0 / IOB_TAU_MIN)
    first = insulin_u_per_min / (1.0 - decay)
    return jnp.stack([first, first * decay / (IOB_TAU_MIN * (1.0 - decay))]).astype(jnp.float32)


def _iob_step(iob: jax.Array, insulin_u_per_min: jax.Array) -> jax.Array:
    """One minute of the two-compartment insulin-on-board model (exact exponential decay)."""
    decay = math.exp(-1.0 / IOB_TAU_MIN)
    first = iob[0] * decay + insulin_u_per_min
    # Second compartment receives what leaves the first: exact for a chain of two decays.
    second = iob[1] * decay + iob[0] * (1.0 / IOB_TAU_MIN) * decay
    return jnp.stack([first, second])

