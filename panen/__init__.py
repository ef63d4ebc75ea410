"""The ``panen`` command (one module per command group in :mod:`panen.cli`), its settings, the wiring
of concrete adapters to settings, the demo, its embedded broker and the real-service launchers the
tests and benchmarks use.

Errors of the command's own (each a ``RuntimeError``; the CLI prints them and exits non-zero)::

    DemoError         the demo cannot start or a part of it failed (panen.demo)
    BrokerStartError  the embedded broker could not start, e.g. its port is taken (panen.broker)
    DevServiceError   a real service for tests could not start (panen.devservices)
"""


def __getattr__(name: str) -> str:
    # Looked up when asked for (`panen version`): reading the installed packages' metadata took 30 ms
    # of every command's start, ingest's included.
    if name != "__version__":
        raise AttributeError(f"module 'panen' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("panen")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0+unknown"
