"""The training driver: one loop for every algorithm (see `driver.training`).

    import driver
    result = driver.train("sac", envs.make("classic/pendulum"), sac.Config(), seed=0)

Layers: envs < rlcore < algorithms < driver < launch. An algorithm hands the driver a
`rlcore.program.Program` (`algorithms.<name>.make_program(env, config, mesh=None)`).
"""

from driver.runs import summary_row
from driver.training import TrainResult, train

__all__ = ["TrainResult", "summary_row", "train"]
