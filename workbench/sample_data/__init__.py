"""A small, deterministic sample in the schema of the Vietnamese MetaMathQA translation.

`vi_math_sample.jsonl` holds the rows the workbench ships so that it runs offline (`paths.bundled_sample()`).
It is written by the development tool `tools/generate_sample_data.py`, which the package does not ship.
"""

from __future__ import annotations
