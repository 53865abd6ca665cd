"""The Textual UI. Only this package imports Textual, and it never imports torch or runs training."""

from __future__ import annotations
