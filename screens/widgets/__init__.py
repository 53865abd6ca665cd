"""Widgets the screens share: metric plots, the sample-completion view, one-line text and form inputs."""

from __future__ import annotations

from screens.widgets.forminput import FormInput
from screens.widgets.plots import Line, MetricPlot
from screens.widgets.samples import SamplesView, highlight_completion
from screens.widgets.textline import TextLine

__all__ = ["FormInput", "Line", "MetricPlot", "SamplesView", "TextLine", "highlight_completion"]
