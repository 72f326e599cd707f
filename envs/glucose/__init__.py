"""Virtual type 1 diabetes patients: the UVA/Padova model in JAX and its population.

`envs.glucose.patient` is the ODE (pure, jittable, vmappable); `envs.glucose.population`
holds the 30 virtual patients and their therapy table.
"""

from envs.glucose import patient, population

# env registration: see env.py

__all__ = ["patient", "population"]
