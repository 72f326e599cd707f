"""ReBAL configuration (Nagabandi, Clavera et al., ICLR 2019, recurrence-based learner)."""

from __future__ import annotations

import dataclasses

from algorithms.mb.config import ModelBasedConfig
from rlcore.config import check


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ModelBasedConfig):
    """ReBAL hyperparameters; the loop's fields (M, K, horizon, ...) are inherited.

    Attributes:
      gru_size: features of the GRU's hidden state (the adapted "parameters").
      random_context_length: train on contexts whose length is drawn uniformly from
        0..M (older rows masked), so the state is meaningful at an episode's start (fewer
        than M past steps) and an empty context gives a trained unadapted model.
    """

    gru_size: int = 128
    random_context_length: bool = True

    def __post_init__(self):
        super().__post_init__()
        check(self.gru_size > 0, "gru_size", "must be > 0")
