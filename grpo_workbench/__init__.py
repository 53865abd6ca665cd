"""The composition root: the `grpo-workbench` command line, which wires the domain core (`workbench`),
the job processes (`jobs`) and the TUI (`screens`) together. Nothing imports this package; it imports
the three layers, which never import each other upwards (see the import-linter contracts)."""
