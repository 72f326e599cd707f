"""The UVA/Padova 2008 type 1 diabetes patient as a pure JAX function.

The 13-state model of Dalla Man, Rizza & Cobelli (IEEE TBME 54(10), 2007: meal and glucose
subsystems) with the T1D simulator's subcutaneous insulin, renal excretion and the
meal-size-dependent gastric emptying of Dalla Man et al. (IEEE TBME 53(12), 2006), written
from the published equations and matched against simglucose 0.2.11 (`T1DPatient.model`),
whose conventions it follows so the two agree number for number:

* meals are eaten at 5 g/min from a queue (`PatientState.planned_meal_g`); the gastric
  emptying rate depends on Dbar = stomach content when the current meal started + carbs eaten
  since (both part of the state), in mg;
* insulin enters as U/min, converted to pmol/kg/min as U/min * 6000 / BW;
* EGP is floored at 0, renal excretion acts above ke2, and the compartments simglucose guards
  (Gp, Gt, Ip, Il, Isc1, Isc2, Gs) have zero derivative once negative.

Integration: classic RK4, two 30-second sub-steps per minute with inputs held over the minute
(simglucose uses adaptive dopri5). Over the three-meal test day one 1-minute RK4 step errs by up
to 0.33 mg/dL (child#007: the tanh switches of gastric emptying are sharp for small meals);
two sub-steps stay within 0.02 mg/dL for all 30 patients, four within 0.0012. Euler drifts by
several mg/dL.

Options beyond simglucose (all off by default, so the default model is simglucose's):
* `si_scale` and `si_profile_24h`: insulin sensitivity multiplies Vmx (insulin-dependent
  utilisation) and kp3 (insulin suppression of EGP). The S2017 simulator (Visentin et al.,
  J Diabetes Sci Technol 12(2):273, 2018) models intraday SI variability as time-varying
  insulin-action parameters; its per-subject profiles are not public, so here the profile is
  an input: 24 hourly multipliers, piecewise constant over each hour of the day.
* `dawn_egp_mg_kg_min`: the dawn phenomenon as extra endogenous glucose production, a raised
  cosine that starts at 03:00, peaks at 06:00 and ends at 09:00 (the early-morning rise of
  glucose production measured by Bolli et al., Diabetes 33:1150, 1984; S2017 adds a dawn
  model from clinical data whose form is not public, so this shape is our choice).
* `with_initial_glucose`: a new basal glucose with a consistent steady state (see there).

Shapes: every leaf of `PatientParams` and `PatientState` is a scalar per patient (the SI
profile is `(24,)`). All functions are elementwise, so they run unchanged on stacked params
with a leading batch axis `B` (structure of arrays: each compartment is a `(B,)` row), and
they are also `jax.vmap`-able.
Guard: NaN, infinite or negative insulin (and meals) are used as 0; `step` never lets them
reach the state (the environment counts such actions).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from envs.glucose import population as _population

EAT_RATE_G_PER_MIN = 5.0  # simglucose's T1DPatient.EAT_RATE
RK4_SUBSTEPS = 2  # per minute; see the module docstring
MINUTES_PER_DAY = 1440.0


def population() -> list[str]:
    """The 30 patient names (re-exported from `envs.glucose.population`)."""
    return _population.population()


class Compartments(NamedTuple):
    """The 13 ODE states, in simglucose's order (x[0]..x[12]), per patient."""

    qsto1: jax.Array  # solid stomach glucose, mg
    qsto2: jax.Array  # liquid stomach glucose, mg
    qgut: jax.Array  # intestinal glucose, mg
    gp: jax.Array  # plasma glucose mass, mg/kg
    gt: jax.Array  # tissue glucose mass, mg/kg
    ip: jax.Array  # plasma insulin, pmol/kg
    x: jax.Array  # remote insulin action on utilisation, pmol/L (may be negative)
    i1: jax.Array  # delayed insulin signal 1, pmol/L
    id: jax.Array  # delayed insulin acting on EGP, pmol/L
    il: jax.Array  # liver insulin, pmol/kg
    isc1: jax.Array  # subcutaneous insulin, non-monomeric, pmol/kg
    isc2: jax.Array  # subcutaneous insulin, monomeric, pmol/kg
    gs: jax.Array  # subcutaneous glucose mass, mg/kg


_PARAM_NAMES = ("BW", "kabs", "kmax", "kmin", "b", "d", "f", "Vg", "Vi", "Vmx", "Km0", "Vm0",
                "k1", "k2", "p2u", "m1", "m2", "m4", "m30", "ki", "kp1", "kp2", "kp3",
                "ke1", "ke2", "Fsnc", "Ib", "kd", "ka1", "ka2", "ksc", "u2ss")


@struct.dataclass
class PatientParams:
    """Model parameters of one patient (units as in the parameter table), plus options."""

    BW: jax.Array  # body weight, kg
    kabs: jax.Array  # intestinal absorption, 1/min
    kmax: jax.Array  # max gastric emptying, 1/min
    kmin: jax.Array  # min gastric emptying, 1/min
    b: jax.Array  # fraction of the meal where emptying starts to fall
    d: jax.Array  # fraction where it recovers
    f: jax.Array  # fraction of intestinal absorption that appears in plasma
    Vg: jax.Array  # glucose distribution volume, dL/kg
    Vi: jax.Array  # insulin distribution volume, L/kg
    Vmx: jax.Array  # insulin-dependent utilisation slope, mg/kg/min per pmol/L
    Km0: jax.Array  # Michaelis-Menten constant, mg/kg
    Vm0: jax.Array  # insulin-independent max utilisation, mg/kg/min
    k1: jax.Array  # plasma -> tissue, 1/min
    k2: jax.Array  # tissue -> plasma, 1/min
    p2u: jax.Array  # insulin action rate, 1/min
    m1: jax.Array  # liver -> plasma insulin, 1/min
    m2: jax.Array  # plasma -> liver, 1/min
    m4: jax.Array  # peripheral insulin degradation, 1/min
    m30: jax.Array  # hepatic insulin extraction, 1/min
    ki: jax.Array  # insulin delay rate, 1/min
    kp1: jax.Array  # EGP extrapolated at zero glucose and insulin, mg/kg/min
    kp2: jax.Array  # liver glucose effectiveness, 1/min
    kp3: jax.Array  # insulin suppression of EGP, mg/kg/min per pmol/L
    ke1: jax.Array  # renal excretion rate, 1/min
    ke2: jax.Array  # renal threshold, mg/kg
    Fsnc: jax.Array  # insulin-independent utilisation (brain), mg/kg/min
    Ib: jax.Array  # basal plasma insulin, pmol/L
    kd: jax.Array  # subcutaneous degradation/transfer, 1/min
    ka1: jax.Array  # absorption of non-monomeric insulin, 1/min
    ka2: jax.Array  # absorption of monomeric insulin, 1/min
    ksc: jax.Array  # plasma -> subcutaneous glucose, 1/min
    u2ss: jax.Array  # basal insulin infusion at steady state, pmol/kg/min
    x0: Compartments  # initial (steady) state of the 13 compartments
    si_scale: jax.Array  # insulin-sensitivity multiplier on Vmx and kp3 (1 = table)
    si_profile_24h: jax.Array  # (24,) hourly SI multipliers (ones = none)
    dawn_egp_mg_kg_min: jax.Array  # peak extra EGP at 06:00 (0 = no dawn phenomenon)


@struct.dataclass
class PatientState:
    """The ODE state plus the meal bookkeeping simglucose keeps outside its ODE."""

    x: Compartments
    planned_meal_g: jax.Array  # carbohydrate queued, still to be eaten, g
    last_to_eat_g: jax.Array  # carbohydrate eaten in the previous minute, g
    meal_start_qsto_mg: jax.Array  # stomach content when the current meal started, mg
    eaten_g: jax.Array  # carbohydrate eaten since the current meal started, g
    time_min: jax.Array  # minute of the day, [0, 1440)


def _f32(v) -> jax.Array:
    return jnp.asarray(v, jnp.float32)


def params(name: str) -> PatientParams:
    """The parameters of patient `name` (one of `population()`) as float32 scalars."""
    raw = _population.raw_params(name)
    x0 = Compartments(*[_f32(raw[f"x0_{i:2d}" if i < 10 else f"x0_{i}"]) for i in range(1, 14)])
    return PatientParams(**{k: _f32(raw[k]) for k in _PARAM_NAMES}, x0=x0,
                         si_scale=_f32(1.0), si_profile_24h=jnp.ones((24,), jnp.float32),
                         dawn_egp_mg_kg_min=_f32(0.0))


def stacked_params(names: list[str]) -> PatientParams:
    """Parameters of several patients stacked on a leading axis (for vmap / batch)."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[params(n) for n in names])


def initial_state(p: PatientParams, time_of_day_min=0.0) -> PatientState:
    """The patient's steady state (the table's x0) with an empty stomach queue."""
    x0 = jax.tree.map(lambda v: v.astype(jnp.float32), p.x0)
    zero = jnp.zeros_like(x0.gp)
    return PatientState(x=x0, planned_meal_g=zero, last_to_eat_g=zero,
                        meal_start_qsto_mg=x0.qsto1 + x0.qsto2, eaten_g=zero,
                        time_min=zero + _f32(time_of_day_min) % MINUTES_PER_DAY)


def blood_glucose(p: PatientParams, state: PatientState) -> jax.Array:
    """Plasma glucose, mg/dL: Gp / Vg."""
    return state.x.gp / p.Vg


def subcutaneous_glucose(p: PatientParams, state: PatientState) -> jax.Array:
    """Subcutaneous (interstitial) glucose, mg/dL: Gs / Vg (what simglucose's CGM reads)."""
    return state.x.gs / p.Vg


def sanitize(amount: jax.Array) -> jax.Array:
    """NaN, +-inf and negative inputs become 0 (used for insulin and meals)."""
    amount = jnp.asarray(amount, jnp.float32)
    return jnp.where(jnp.isfinite(amount) & (amount > 0), amount, 0.0)


class _Inputs(NamedTuple):
    """Everything held constant over one 1-minute step."""

    meal_mg_per_min: jax.Array
    insulin_pmol_kg_min: jax.Array
    dbar_mg: jax.Array  # meal-size reference of gastric emptying
    vmx: jax.Array  # Vmx with the insulin-sensitivity multiplier applied
    kp3: jax.Array  # kp3 with the multiplier applied
    dawn_egp: jax.Array  # extra EGP, mg/kg/min


def _guard(v: jax.Array, dv: jax.Array) -> jax.Array:
    """Zero derivative for a compartment that went negative (simglucose's guard)."""
    return jnp.where(v >= 0, dv, 0.0)


def vector_field(p: PatientParams, x: Compartments, u: _Inputs) -> Compartments:
    """dx/dt of the 13 compartments (per minute), elementwise over any batch shape."""
    qsto = x.qsto1 + x.qsto2
    # Gastric emptying (Dalla Man 2006): kgut falls from kmax to kmin as the stomach empties
    # past b*Dbar and recovers at d*Dbar. Dbar = 0 (nothing eaten yet) means kgut = kmax.
    has_meal = u.dbar_mg > 0
    dbar = jnp.where(has_meal, u.dbar_mg, 1.0)  # no division by zero
    aa = 5.0 / (2.0 * dbar * (1.0 - p.b))
    cc = 5.0 / (2.0 * dbar * p.d)
    kgut_meal = p.kmin + (p.kmax - p.kmin) / 2.0 * (
        jnp.tanh(aa * (qsto - p.b * dbar)) - jnp.tanh(cc * (qsto - p.d * dbar)) + 2.0)
    kgut = jnp.where(has_meal, kgut_meal, p.kmax)

    dqsto1 = -p.kmax * x.qsto1 + u.meal_mg_per_min
    dqsto2 = p.kmax * x.qsto1 - kgut * x.qsto2
    dqgut = kgut * x.qsto2 - p.kabs * x.qgut

    ra = p.f * p.kabs * x.qgut / p.BW  # rate of appearance, mg/kg/min
    egp = p.kp1 - p.kp2 * x.gp - u.kp3 * x.id + u.dawn_egp
    renal = jnp.where(x.gp > p.ke2, p.ke1 * (x.gp - p.ke2), 0.0)
    dgp = jnp.maximum(egp, 0.0) + ra - p.Fsnc - renal - p.k1 * x.gp + p.k2 * x.gt
    uid = (p.Vm0 + u.vmx * x.x) * x.gt / (p.Km0 + x.gt)  # insulin-dependent utilisation
    dgt = -uid + p.k1 * x.gp - p.k2 * x.gt

    dip = -(p.m2 + p.m4) * x.ip + p.m1 * x.il + p.ka1 * x.isc1 + p.ka2 * x.isc2
    plasma_insulin = x.ip / p.Vi  # pmol/L
    dx = -p.p2u * x.x + p.p2u * (plasma_insulin - p.Ib)
    di1 = -p.ki * (x.i1 - plasma_insulin)
    did = -p.ki * (x.id - x.i1)
    dil = -(p.m1 + p.m30) * x.il + p.m2 * x.ip
    disc1 = u.insulin_pmol_kg_min - (p.ka1 + p.kd) * x.isc1
    disc2 = p.kd * x.isc1 - p.ka2 * x.isc2
    dgs = -p.ksc * x.gs + p.ksc * x.gp
    return Compartments(
        qsto1=dqsto1, qsto2=dqsto2, qgut=dqgut, gp=_guard(x.gp, dgp), gt=_guard(x.gt, dgt),
        ip=_guard(x.ip, dip), x=dx, i1=di1, id=did, il=_guard(x.il, dil),
        isc1=_guard(x.isc1, disc1), isc2=_guard(x.isc2, disc2), gs=_guard(x.gs, dgs))


def _rk4(p: PatientParams, x: Compartments, u: _Inputs, dt_min: float = 1.0) -> Compartments:
    def axpy(a, k, y):
        return jax.tree.map(lambda yi, ki: yi + a * ki, y, k)

    k1 = vector_field(p, x, u)
    k2 = vector_field(p, axpy(dt_min / 2, k1, x), u)
    k3 = vector_field(p, axpy(dt_min / 2, k2, x), u)
    k4 = vector_field(p, axpy(dt_min, k3, x), u)
    return jax.tree.map(lambda y, a, b_, c, d: y + dt_min / 6.0 * (a + 2.0 * b_ + 2.0 * c + d),
                        x, k1, k2, k3, k4)


def _si_multiplier(p: PatientParams, time_min: jax.Array) -> jax.Array:
    hour = (jnp.floor(time_min / 60.0) % 24).astype(jnp.int32)
    # A gather along the last axis works for one patient and for stacked params alike; it
    # ran the batched ODE 3-10% faster than the one-hot sum it replaced (same values).
    profile = jnp.broadcast_to(p.si_profile_24h, hour.shape + (24,))
    return p.si_scale * jnp.take_along_axis(profile, hour[..., None], axis=-1)[..., 0]


def dawn_shape(time_min: jax.Array) -> jax.Array:
    """Raised cosine on [03:00, 09:00], 1 at 06:00, 0 outside."""
    phase = (time_min - 180.0) / 360.0  # 0 at 03:00, 1 at 09:00
    inside = (phase > 0) & (phase < 1)
    return jnp.where(inside, 0.5 - 0.5 * jnp.cos(2.0 * jnp.pi * phase), 0.0)


_NON_NEGATIVE = ("qsto1", "qsto2", "qgut", "gp", "gt", "ip", "i1", "id", "il", "isc1", "isc2",
                 "gs")


def step(p: PatientParams, state: PatientState, meal_g, insulin_u_per_min) -> PatientState:
    """The state one minute later.

    Args:
      p: patient parameters.
      state: current state.
      meal_g: carbohydrate (g) that starts to be eaten at this minute; it joins the queue,
        eaten at 5 g/min.
      insulin_u_per_min: insulin infusion rate (U/min) held over the minute; NaN, infinite or
        negative values are used as 0.
    """
    planned = state.planned_meal_g + sanitize(meal_g)
    to_eat = jnp.where(planned > 0, jnp.minimum(EAT_RATE_G_PER_MIN, planned), 0.0)
    planned = jnp.maximum(planned - to_eat, 0.0)
    # A meal starts when eating resumes after a minute without eating: Dbar is then measured
    # from the current stomach content (simglucose's _last_Qsto / _last_foodtaken).
    starts = (to_eat > 0) & (state.last_to_eat_g <= 0)
    x = state.x
    meal_start_qsto = jnp.where(starts, x.qsto1 + x.qsto2, state.meal_start_qsto_mg)
    eaten = jnp.where(starts, 0.0, state.eaten_g) + to_eat

    si = _si_multiplier(p, state.time_min)
    u = _Inputs(meal_mg_per_min=to_eat * 1000.0,
                insulin_pmol_kg_min=sanitize(insulin_u_per_min) * 6000.0 / p.BW,
                dbar_mg=meal_start_qsto + eaten * 1000.0, vmx=p.Vmx * si, kp3=p.kp3 * si,
                dawn_egp=p.dawn_egp_mg_kg_min * dawn_shape(state.time_min))
    # A rolled loop on purpose: unrolled, XLA fused the two sub-steps' eight stages into
    # fusions that recompute shared work (the glucose training stack ran at 1.86M env
    # steps/s at 16,384 envs against 2.55M rolled, and slower at batch 1 too).
    x_new = jax.lax.fori_loop(
        0, RK4_SUBSTEPS, lambda _, xi: _rk4(p, xi, u, 1.0 / RK4_SUBSTEPS), x, unroll=False)
    # RK4 can undershoot zero on a fast-emptying compartment; clamp what must stay >= 0.
    x_new = x_new._replace(**{k: jnp.maximum(getattr(x_new, k), 0.0) for k in _NON_NEGATIVE})
    return PatientState(x=x_new, planned_meal_g=planned, last_to_eat_g=to_eat,
                        meal_start_qsto_mg=meal_start_qsto, eaten_g=eaten,
                        time_min=(state.time_min + 1.0) % MINUTES_PER_DAY)


def simulate(p: PatientParams, state: PatientState, meals_g, insulin_u_per_min):
    """Steps through `T` minutes with `lax.scan`.

    Args:
      meals_g: `(T, ...)` carbs starting at each minute, g.
      insulin_u_per_min: `(T, ...)` insulin rate per minute, U/min.
    Returns:
      (final state, states after each minute with a leading `T` axis).
    """
    def body(s, inputs):
        s = step(p, s, *inputs)
        return s, s

    return jax.lax.scan(body, state, (jnp.asarray(meals_g, jnp.float32),
                                      jnp.asarray(insulin_u_per_min, jnp.float32)))


def simulate_batch(p: PatientParams, state: PatientState, meals_g, insulin_u_per_min):
    """`simulate` for stacked params/states, leaves `(B,)`; inputs `(T, B)`.

    Structure of arrays: each compartment is a `(B,)` row and the vector field is elementwise,
    so no vmap is needed; returns the final state and blood glucose `(T, B)` in mg/dL (the
    full per-minute state of a large batch would be mostly memory traffic).
    """
    def body(s, inputs):
        s = step(p, s, *inputs)
        return s, blood_glucose(p, s)

    return jax.lax.scan(body, state, (jnp.asarray(meals_g, jnp.float32),
                                      jnp.asarray(insulin_u_per_min, jnp.float32)))


def basal_u_per_min(p: PatientParams) -> jax.Array:
    """Insulin rate that holds the steady state: u2ss * BW / 6000, U/min."""
    return p.u2ss * p.BW / 6000.0


def with_initial_glucose(p: PatientParams, glucose_mg_dl) -> PatientParams:
    """Parameters whose steady state has plasma glucose `glucose_mg_dl` at the basal rate.

    Insulin stays at the patient's basal steady state (plasma insulin Ib, X = 0, same basal
    rate u2ss); Gp = G * Vg; Gt solves dGt/dt = 0, i.e. the quadratic
    k1 Gp = Vm0 Gt / (Km0 + Gt) + k2 Gt; then basal EGP must balance dGp/dt = 0:
    EGPb = Fsnc + E(Gp) + k1 Gp - k2 Gt, and kp1 = EGPb + kp2 Gp + kp3 Ib. Gs = Gp.
    (simglucose's random initial glucose moves Gp, Gt, Gs but keeps kp1, so glucose drifts
    back.) The SI and dawn options are not part of this steady state.
    """
    gp = _f32(glucose_mg_dl) * p.Vg
    bq = p.k2 * p.Km0 + p.Vm0 - p.k1 * gp
    cq = -p.k1 * gp * p.Km0  # < 0, so one positive root
    disc = jnp.sqrt(bq * bq - 4.0 * p.k2 * cq)
    # Stable form of the positive root (avoids cancellation when bq > 0).
    gt = jnp.where(bq > 0, -2.0 * cq / (bq + disc), (-bq + disc) / (2.0 * p.k2))
    renal = jnp.where(gp > p.ke2, p.ke1 * (gp - p.ke2), 0.0)
    egp_b = p.Fsnc + renal + p.k1 * gp - p.k2 * gt
    kp1 = egp_b + p.kp2 * gp + p.kp3 * p.Ib
    return p.replace(kp1=kp1, x0=p.x0._replace(gp=gp, gt=gt, gs=gp))
