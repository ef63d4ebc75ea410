"""``python -m panen`` is the ``panen`` command."""

from panen.cli import app

app()
