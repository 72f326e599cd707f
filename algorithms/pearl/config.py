"""PEARL configuration (Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning
via Probabilistic Context Variables"). Defaults follow oyster's cheetah-vel settings where they
exist (`configs/default.py`, `configs/cheetah-vel.json`)."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from algorithms.sac.config import SACFields
from rlcore.config import RunConfig, check, check_learning_rates


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(SACFields, RunConfig):
    """PEARL hyperparameters. Step counts are env steps per task unless said otherwise.
    Renamed fields (migrated from flags and saved runs): num_train_steps_per_iteration ->
    grad_steps_per_iteration, eval_every_iterations -> eval_every_steps.

    Task family:
      num_train_tasks: tasks drawn once for meta-training (oyster cheetah-vel: 100).
      num_test_tasks: held-out tasks for meta-testing (oyster cheetah-vel: 30); must be > 0.

    Context encoder q(z|c):
      latent_size: size of z (paper: 5).
      encoder_hidden_sizes: hidden layers of the per-transition encoder MLP (oyster: 200 x 3).
      kl_weight: weight of KL(q(z|c) || N(0, I)) in the encoder loss (paper: 0.1; 1.0 for
        ant-goal).
      context_size: transitions per context, sampled from the encoder buffer (oyster's
        `embedding_batch_size`, 100); must not exceed `encoder_buffer_size`.
      use_next_obs_in_context: a transition is (s, a, r, s') when true, (s, a, r) otherwise
        (oyster's default is false; the paper's figure 2 uses (s, a, r, s')).
      variance_floor: lower bound on each factor's variance in the product of Gaussians (1e-7,
        oyster's clamp).

    SAC (v2, automatic temperature; oyster uses SAC v1: a V network, fixed alpha = 1): the
    fields of `algorithms.sac.config.SACFields` (actor_lr, critic_lr, alpha_lr, discount, tau,
    init_alpha, target_entropy, reward_scale, hidden_sizes, num_critics), with PEARL's
    defaults where they differ:
      hidden_sizes: hidden layers of the policy and of each critic (oyster: 300 x 3).
      reward_scale: rewards are multiplied by this in the critic target (oyster: 5); it also
        sets the balance between the critic loss and the KL term in the encoder's objective.
      encoder_lr: Adam learning rate of the context encoder (oyster: 3e-4).
      batch_size: RL transitions per task per gradient step (oyster: 256).
      meta_batch: train tasks per gradient step, drawn with replacement as in oyster (16),
        so it may exceed num_train_tasks (oyster's cheetah-dir: 2 tasks, meta_batch 4).

    Data collection (one meta-training iteration, paper algorithm 1):
      num_initial_steps: steps per train task collected with z ~ prior before training, into
        both buffers (oyster: 2000).
      num_tasks_sample: train tasks sampled per iteration for collection (oyster: 5), drawn
        without replacement (they are collected in one vmapped batch, each writing its own
        buffers; oyster draws with replacement); must not exceed num_train_tasks.
      num_steps_prior: steps per sampled task with z ~ prior, into both buffers (400).
      num_steps_posterior: steps per sampled task with z ~ q(z|c), into both buffers (0).
      num_extra_rl_steps_posterior: steps per sampled task with z ~ q(z|c), into the RL
        buffer only (600). Both posterior phases infer q(z|c) once, from a context drawn
        from the task's encoder buffer as refilled by the phases before (the prior where it
        is still empty), and draw a fresh z from it at every episode start.
      num_envs: parallel envs per collecting task; each phase runs ceil(steps / num_envs)
        vmapped steps.
      grad_steps_per_iteration: gradient steps per iteration (oyster's
        `num_train_steps_per_iteration`: 2000).
      rl_buffer_capacity: transitions the RL buffer of each train task holds (ring).
      total_env_steps: meta-training env steps over all tasks, initial collection included.
        The run takes `num_iterations` = this minus the initial collection, divided by
        `env_steps_per_iteration` and rounded to the nearest whole iteration (at least one),
        so it stops within half an iteration of the budget; the last chunk between
        evaluations skips the iterations past it. (`RunConfig`'s field, as num_envs,
        checkpoint_every_evals and episode_length.)
      critic_reward_key: an `info` entry of the env the critic learns from instead of the
        reward (oyster's sparse point robot: the dense reward, "rewards are always dense" in
        its SAC update); the context, the encoder and every reported return keep the env's
        reward. None: the reward.

    Meta-test and logging:
      num_eval_episodes: consecutive episodes per held-out task (oyster: 600 steps / 200).
      num_exploration_episodes: the first this many episodes use z ~ prior (oyster's
        `num_exp_traj_eval`, 1; 2 for cheetah-dir, 5 for sparse point robot); episode k after
        them uses z ~ q(z | every transition of episodes 1..k-1).
      eval_every_steps: env steps between meta-test evaluations and metric rows, rounded
        down to whole iterations of `env_steps_per_iteration`, at least one (the default:
        every 5 iterations of oyster's collection sizes).
      checkpoint_every_evals: evaluations between checkpoints (0 disables checkpoints).
      episode_length: time limit in env steps (None: the env's spec).
    """

    num_train_tasks: int = 100
    num_test_tasks: int = 30

    latent_size: int = 5
    encoder_hidden_sizes: tuple[int, ...] = (200, 200, 200)
    kl_weight: float = 0.1
    context_size: int = 100
    use_next_obs_in_context: bool = True
    variance_floor: float = 1e-7

    hidden_sizes: tuple[int, ...] = (300, 300, 300)
    reward_scale: float = 5.0
    encoder_lr: float = 3e-4
    batch_size: int = 256
    meta_batch: int = 16

    num_initial_steps: int = 2000
    num_tasks_sample: int = 5
    num_steps_prior: int = 400
    num_steps_posterior: int = 0
    num_extra_rl_steps_posterior: int = 600
    grad_steps_per_iteration: int = 2000
    rl_buffer_capacity: int = 20_000
    total_env_steps: int = 1_000_000
    critic_reward_key: str | None = None

    num_eval_episodes: int = 3
    num_exploration_episodes: int = 1
    eval_every_steps: int = 25_000

    def __post_init__(self):
        super().__post_init__()  # SACFields, then RunConfig
        check(self.num_train_tasks > 0, "num_train_tasks", "must be > 0")
        check(self.num_test_tasks > 0, "num_test_tasks",
              f"must be > 0 (meta-testing needs held-out tasks), got {self.num_test_tasks}")
        check(self.latent_size > 0, "latent_size", "must be > 0")
        check(all(h > 0 for h in self.encoder_hidden_sizes), "encoder_hidden_sizes",
              "sizes must be > 0")
        check(self.kl_weight >= 0 and math.isfinite(self.kl_weight), "kl_weight",
              "must be a finite number >= 0")
        check(self.context_size > 0, "context_size", "must be > 0")
        check(self.variance_floor > 0, "variance_floor", "must be > 0")
        check_learning_rates(self, "encoder_lr")
        check(self.batch_size > 0, "batch_size", "must be > 0")
        check(self.meta_batch > 0, "meta_batch", "must be > 0")
        check(self.num_initial_steps > 0, "num_initial_steps", "must be > 0")
        check(0 < self.num_tasks_sample <= self.num_train_tasks, "num_tasks_sample",
              f"must lie in [1, num_train_tasks={self.num_train_tasks}]")
        for name in ("num_steps_prior", "num_steps_posterior", "num_extra_rl_steps_posterior"):
            check(getattr(self, name) >= 0, name, "must be >= 0")
        check(self.num_steps_prior + self.num_steps_posterior > 0, "num_steps_prior",
              "num_steps_prior + num_steps_posterior must be > 0: the encoder buffer of a task "
              "is cleared when it is sampled and must be refilled")
        check(self.grad_steps_per_iteration > 0, "grad_steps_per_iteration", "must be > 0")
        check(self.critic_reward_key is None or bool(self.critic_reward_key.strip()),
              "critic_reward_key", "must be None or the name of an info entry")
        check(self.rl_buffer_capacity >= self.batch_size, "rl_buffer_capacity",
              f"must be >= batch_size ({self.batch_size})")
        largest_phase = max(self.steps_per_phase(n) for n in (
            self.num_initial_steps, self.num_steps_prior, self.num_steps_posterior,
            self.num_extra_rl_steps_posterior))
        check(self.rl_buffer_capacity >= largest_phase, "rl_buffer_capacity",
              f"must hold the largest collection phase ({largest_phase} steps per task)")
        check(self.context_size <= self.encoder_buffer_size, "context_size",
              f"{self.context_size} is larger than the encoder buffer ({self.encoder_buffer_size}"
              " transitions: max(num_initial_steps, num_steps_prior + num_steps_posterior))")
        check(self.num_exploration_episodes >= 1, "num_exploration_episodes", "must be >= 1")
        check(self.num_eval_episodes > self.num_exploration_episodes, "num_eval_episodes",
              f"must exceed num_exploration_episodes ({self.num_exploration_episodes}): "
              "exploration episodes with z from the prior, then posterior episodes")

    # ------------------------------------------------------------------ derived sizes
    def steps_per_phase(self, steps: int) -> int:
        """Transitions a phase of `steps` per task writes per task (rounded up to num_envs)."""
        return -(-steps // self.num_envs) * self.num_envs

    @property
    def encoder_buffer_size(self) -> int:
        """Capacity of each task's encoder buffer: the most that is ever recent at once."""
        return max(self.steps_per_phase(self.num_initial_steps),
                   self.steps_per_phase(self.num_steps_prior)
                   + self.steps_per_phase(self.num_steps_posterior))

    @property
    def initial_env_steps(self) -> int:
        return self.num_train_tasks * self.steps_per_phase(self.num_initial_steps)

    @property
    def env_steps_per_iteration(self) -> int:
        return self.num_tasks_sample * sum(
            self.steps_per_phase(n) for n in (self.num_steps_prior, self.num_steps_posterior,
                                              self.num_extra_rl_steps_posterior))

    @property
    def num_iterations(self) -> int:
        """Meta-training iterations after the initial collection: the steps left of
        `total_env_steps`, rounded to the nearest whole iteration (halves up), at least one."""
        remaining = self.total_env_steps - self.initial_env_steps
        return max(1, math.floor(remaining / self.env_steps_per_iteration + 0.5))

    @property
    def planned_env_steps(self) -> int:
        """Env steps the run takes: within half an iteration of `total_env_steps` (more only
        where the budget is below the initial collection plus one iteration)."""
        return self.initial_env_steps + self.num_iterations * self.env_steps_per_iteration

    @property
    def iterations_per_chunk(self) -> int:
        """Iterations between meta-tests (see `eval_every_steps`)."""
        return self.iterations_per_eval(self.env_steps_per_iteration)

    @property
    def num_evals(self) -> int:
        """Chunks of `iterations_per_chunk` iterations, each followed by a meta-test; the last
        one skips the iterations past `num_iterations`."""
        return math.ceil(self.num_iterations / self.iterations_per_chunk)

    RENAMED_FIELDS: ClassVar[dict[str, str]] = {
        "num_train_steps_per_iteration": "grad_steps_per_iteration"}

    def eval_every_steps_from_iterations(self, iterations: int) -> int:
        return iterations * self.env_steps_per_iteration
