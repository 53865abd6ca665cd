"""Development tools, run from a checkout; not shipped in the wheel (see `[tool.hatch.build]`)."""
