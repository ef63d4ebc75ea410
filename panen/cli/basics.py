"""``panen version`` and ``panen settings``."""

from __future__ import annotations

import json

import panen
from panen.cli._common import app
from panen.settings import get_settings


@app.command()
def version() -> None:
    """Print panen's version."""
    print(panen.__version__)


@app.command()
def settings() -> None:
    """Print the settings in effect (secrets hidden), as JSON."""
    print(json.dumps(get_settings().shown(), indent=2))
