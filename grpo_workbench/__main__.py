"""`python -m grpo_workbench` is the `grpo-workbench` command."""

from __future__ import annotations

import sys

from grpo_workbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
