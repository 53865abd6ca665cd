"""Test-only fault injection, imported at start-up by every Python process that has this directory on
its PYTHONPATH (tests/test_rollouts_job.py puts it there for one run): with GRPO_TEST_NAN_LOSS_STEP=N,
TRL's GRPOTrainer.compute_loss returns NaN at training step N, as a loss whose weights blew up would.
The backward pass then fills the gradients, and the optimizer step the weights, with NaN. Nothing else
changes; without the variable this file does nothing."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from typing import Any

_STEP = os.environ.get("GRPO_TEST_NAN_LOSS_STEP")
_MODULE = "trl.trainer.grpo_trainer"


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Lets TRL's trainer module load as usual, then wraps its compute_loss."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        load = loader.exec_module

        def exec_module(module: Any) -> None:
            load(module)
            _poison(module.GRPOTrainer, int(_STEP or 0))

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _poison(trainer: Any, step: int) -> None:
    original = trainer.compute_loss

    def compute_loss(self: Any, *args: Any, **kwargs: Any) -> Any:
        loss = original(self, *args, **kwargs)
        if self.state.global_step + 1 == step:  # global_step counts the steps finished
            return loss * float("nan")
        return loss

    trainer.compute_loss = compute_loss


if _STEP:
    sys.meta_path.insert(0, _PatchOnImport())
