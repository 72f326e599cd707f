"""GrBAL configuration (Nagabandi, Clavera et al., ICLR 2019, "Learning to Adapt in Dynamic,
Real-World Environments through Meta-Reinforcement Learning")."""

from __future__ import annotations

import dataclasses

from algorithms.mb.config import ModelBasedConfig
from rlcore.config import check, check_learning_rates


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ModelBasedConfig):
    """GrBAL hyperparameters; the loop's fields (M, K, horizon, ...) are inherited.

    Attributes:
      inner_lr: initial value of the per-parameter inner step size psi (the reference
        uses one SGD step at 1e-3 to 1e-2; here psi is meta-learned from this start).
      num_inner_steps: gradient steps of the inner update (the paper: 1).
      learn_step_size: meta-learn psi (False: psi stays at inner_lr, plain MAML).
      first_order: drop second-order terms of the meta-gradient (the paper uses second order).
      random_context_length: meta-train each segment on only its most recent L past
        transitions, L drawn uniformly from 1..M (older rows masked), because an episode's
        first M steps adapt from 0..M-1 transitions (`mb.loop`); False: always the full M,
        as the paper and learning_to_adapt. The empty context (step 0) needs no training:
        it gives theta' = theta exactly.
    """

    inner_lr: float = 1e-3
    num_inner_steps: int = 1
    learn_step_size: bool = True
    first_order: bool = False
    random_context_length: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_learning_rates(self, "inner_lr")
        check(self.num_inner_steps > 0, "num_inner_steps", "must be > 0")
