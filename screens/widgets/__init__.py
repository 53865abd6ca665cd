"""Widgets the screens share: metric plots (`plots`), the sample-completion view (`samples`), one-line
text (`textline`), form inputs (`forminput`), the mode bar (`modebar`), tick lists (`ticks`) and the
others beside them.

Import each from its module. This package imports none of them: every screen imports the mode bar, and
importing the package must not bring plotext and the sample view into a screen that draws no plot.
"""

from __future__ import annotations
