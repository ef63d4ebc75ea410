"""The ``panen`` command (one module per command group in :mod:`panen.cli`), its settings, the wiring
of concrete adapters to settings, the demo, its embedded broker and the real-service launchers the
tests and benchmarks use."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("panen")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"
