"""The `panen` command and its settings: the one place that wires the packages together."""

__version__ = "0.1.0"
