"""Whether a trainer still runs TRL's own GRPOTrainer methods.

`jobs.colocate`, `jobs.length_groups` and `jobs.importance_sampling` wrap or replace methods of a built
trainer and rely on what TRL's versions return and read, so each applies only where the trainer's class
runs TRL's own method, not a rewrite of it (Unsloth's compiled trainer rewrites several).
"""

from __future__ import annotations

from typing import Any

TRL_MODULE = "trl.trainer.grpo_trainer"


def trls_own(trainer: Any, method: str) -> bool:
    """Whether `type(trainer).<method>` is defined by TRL's GRPOTrainer module."""
    return getattr(getattr(type(trainer), method, None), "__module__", "") == TRL_MODULE
