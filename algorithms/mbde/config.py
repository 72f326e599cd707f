"""MB+DE configuration: MB with dynamic evaluation (Nagabandi, Clavera et al. 2019, Sec. 6)."""

from __future__ import annotations

import dataclasses

from algorithms.mb.config import ModelBasedConfig
from rlcore.config import check, check_learning_rates


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ModelBasedConfig):
    """MB+DE: the MB model, adapted at test time by SGD on the last M transitions.

    Attributes:
      adapt_lr: SGD step size of the test-time steps (not meta-learned).
      adapt_steps: SGD steps on the past M transitions before every planning step, each
        time from the trained (not the previously adapted) parameters.
    """

    adapt_lr: float = 1e-2
    adapt_steps: int = 1

    def __post_init__(self):
        super().__post_init__()
        check_learning_rates(self, "adapt_lr")
        check(self.adapt_steps > 0, "adapt_steps", "must be > 0")
