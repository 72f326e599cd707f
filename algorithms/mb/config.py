"""Settings shared by the model-based learners (MB, MB+DE, GrBAL, ReBAL).

Defaults follow Nagabandi, Clavera et al. (ICLR 2019) and learning_to_adapt where they are
given: M = K = 16, a 512x3 ReLU MLP on normalised deltas, Adam 1e-3, random shooting with
500 candidates over a horizon of 10.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from algorithms import mpc
from rlcore.config import RunConfig, check, check_learning_rates


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelBasedConfig(RunConfig):
    """The iterative model-based loop: collect with MPC, aggregate, refit the model.

    Renamed fields (migrated from flags and saved runs): learning_rate -> model_lr,
    eval_every_iterations -> eval_every_steps.

    Attributes:
      M: past transitions the model adapts from (the paper's M).
      K: future transitions of the outer (meta) loss (the paper's K).
      horizon: MPC planning horizon in env steps.
      candidates: action sequences the planner scores per planning (per CEM iteration).
      planner: "random_shooting" (the paper) or "cem".
      cem_iterations, cem_elites: CEM refits and elites per refit.
      discount: discount of predicted rewards inside the planning horizon.
      hidden_sizes: hidden layers of the dynamics MLP.
      model_lr: Adam learning rate of the (outer) model loss.
      batch_size: segments of M + K consecutive transitions per gradient step.
      grad_steps_per_iteration: model gradient steps after each round of collection.
      total_env_steps: env steps over the run (rounded up to whole collection rounds; the
        first round takes uniform random actions).
      num_envs: episodes collected in parallel per round, each on a freshly sampled task.
      episode_length: steps per episode (None: the env's spec).
      exploration_noise: std of Gaussian noise added to MPC actions while collecting, as a
        fraction of half the action range.
      num_eval_envs: test-task episodes per evaluation (planner without noise).
      eval_every_steps: env steps between evaluations, rounded down to whole collection
        rounds of num_envs * episode_length steps, at least one (the default: every round).
      buffer_trajectories: trajectories kept (None: every one of the run).
      checkpoint_every_evals: evaluations between checkpoints of the whole training state
        (model, optimiser, normaliser, trajectory buffer) when a workdir is given; 0: never.
    """

    M: int = 16
    K: int = 16
    horizon: int = 10
    candidates: int = 500
    planner: str = "random_shooting"
    cem_iterations: int = 5
    cem_elites: int = 50
    discount: float = 1.0
    hidden_sizes: tuple[int, ...] = (512, 512, 512)
    model_lr: float = 1e-3
    batch_size: int = 64
    grad_steps_per_iteration: int = 500
    total_env_steps: int = 40_000
    num_envs: int = 4
    episode_length: int | None = None
    exploration_noise: float = 0.1
    num_eval_envs: int = 4
    eval_every_steps: int = 1
    buffer_trajectories: int | None = None
    checkpoint_every_evals: int = 1

    def __post_init__(self):
        super().__post_init__()
        check(self.M > 0, "M", f"past transitions must be > 0, got {self.M}")
        check(self.K > 0, "K", f"future transitions must be > 0, got {self.K}")
        check(self.horizon > 0, "horizon", f"must be > 0, got {self.horizon}")
        check(self.candidates > 0, "candidates", f"must be > 0, got {self.candidates}")
        check(self.planner in mpc.METHODS, "planner", f"must be one of {mpc.METHODS}")
        check(self.cem_iterations > 0, "cem_iterations", "must be > 0")
        check(self.cem_elites > 0, "cem_elites", "must be > 0")
        if self.planner == "cem":
            check(self.cem_elites <= self.candidates, "cem_elites",
                  f"{self.cem_elites} elites out of {self.candidates} candidates")
        check(0.0 < self.discount <= 1.0, "discount", "must lie in (0, 1]")
        check(all(h > 0 for h in self.hidden_sizes), "hidden_sizes", "sizes must be > 0")
        check_learning_rates(self, "model_lr")
        check(self.batch_size > 0, "batch_size", "must be > 0")
        check(self.grad_steps_per_iteration > 0, "grad_steps_per_iteration", "must be > 0")
        check(self.exploration_noise >= 0, "exploration_noise", "must be >= 0")
        check(self.num_eval_envs > 0, "num_eval_envs", "must be > 0")
        check(self.buffer_trajectories is None or self.buffer_trajectories >= self.num_envs,
              "buffer_trajectories", "must hold at least one round (num_envs)")
        if self.episode_length is not None:
            self.check_episode_length(self.episode_length)

    RENAMED_FIELDS: ClassVar[dict[str, str]] = {"learning_rate": "model_lr"}

    def eval_every_steps_from_iterations(self, iterations: int) -> int:
        check(self.episode_length is not None, "eval_every_iterations",
              "was replaced by eval_every_steps (env steps between evaluations); without "
              "episode_length the length of a round is the env's: set eval_every_steps to "
              f"{iterations} * num_envs * the episode length")
        return iterations * self.num_envs * self.episode_length

    def check_episode_length(self, episode_length: int) -> None:
        """The horizon and one M + K window must fit in an episode (ValueError otherwise)."""
        check(self.horizon <= episode_length, "horizon",
              f"{self.horizon} is longer than the episode ({episode_length} steps)")
        check(self.M + self.K <= episode_length, "M",
              f"M + K = {self.M + self.K} is longer than the episode ({episode_length} steps)")

    def planner_config(self) -> mpc.PlannerConfig:
        return mpc.PlannerConfig(method=self.planner, horizon=self.horizon,
                                 num_candidates=self.candidates,
                                 num_cem_iterations=self.cem_iterations,
                                 num_elites=min(self.cem_elites, self.candidates),
                                 discount=self.discount)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ModelBasedConfig):
    """MB: one MLP fitted to all data, never adapted (the paper's "MB" baseline)."""
