"""Widgets the screens share: metric plots and the sample-completion view."""

from __future__ import annotations

from screens.widgets.plots import Line, MetricPlot
from screens.widgets.samples import SamplesView, highlight_completion
from screens.widgets.textline import TextLine

__all__ = ["Line", "MetricPlot", "SamplesView", "TextLine", "highlight_completion"]
