"""Virtual type 1 diabetes patients: the UVA/Padova model in JAX, its population and the env.

`envs.glucose.patient` is the ODE (pure, jittable, vmappable); `envs.glucose.population`
holds the 30 virtual patients and their therapy table; `envs.glucose.env` is the dosing
environment, registered as `glucose/<patient name>` (e.g. `glucose/adult#001`) and
`glucose/adolescents`, `glucose/adults`, `glucose/children`, `glucose/all` (a patient drawn
per episode). Keyword overrides of `envs.make` are `GlucoseConfig` fields.
"""

from envs.base import register
from envs.glucose import meals, metrics, patient, population, pump, sensor
from envs.glucose.env import GlucoseConfig, GlucoseEnv


def _factory(name: str, patients: tuple[str, ...]):
    def make(**overrides) -> GlucoseEnv:
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return GlucoseEnv(GlucoseConfig(**{"patients": patients, **overrides}), name=name)

    return make


for _patient in population.population():
    register(f"glucose/{_patient}", _factory(f"glucose/{_patient}", (_patient,)))
for _group, _members in population.GROUPS.items():
    register(f"glucose/{_group}", _factory(f"glucose/{_group}", tuple(_members)))

__all__ = ["GlucoseConfig", "GlucoseEnv", "meals", "metrics", "patient", "population", "pump",
           "sensor"]
