"""A small, deterministic sample in the schema of the Vietnamese MetaMathQA translation.

`generate.py` writes `vi_math_sample.jsonl`, the rows the workbench ships so that it runs offline.
"""

from __future__ import annotations
