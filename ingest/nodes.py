"""The nodes ingest knows (its view of the registry): which cooperative and site a node belongs to, and which
LoRaWAN node has which DevEUI and device profile.

Nodes come from the registry database (:func:`database_loader`) or from a YAML or JSON file: a
``nodes`` list or a fleet file, parsed by :func:`storage.fleetfile.placed_nodes`, so a fleet file
serves as a registry too. Either is reloaded when it changes, so adding a node needs no restart.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingest.errors import RegistryError
from sensors import check_id
from sensors.topics import Format
from storage.fleetfile import FleetFileError, placed_nodes

# libyaml's safe loader where PyYAML has it: the same documents, a tenth of the time (a 240-node
# registry took 55 ms of ingest's start with the pure-Python one).
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = ["NodeRegistry", "RegisteredNode", "RegistryError", "database_loader", "nodes_from_document"]


@dataclass(frozen=True, slots=True)
class RegisteredNode:
    """A registered node.

    Attributes:
        node_id: Node id (also its MQTT client id and topic segment for native/SenML nodes).
        coop_id: Cooperative id.
        site_id: Field or weather-station id.
        format: Payload format it speaks.
        dev_eui: LoRaWAN DevEUI, lower-case hex, or "".
        profile: LoRaWAN device profile (see :data:`sensors.codecs.PROFILES`), or "".
    """

    node_id: str
    coop_id: str
    site_id: str
    format: Format
    dev_eui: str = ""
    profile: str = ""


def _node(entry: Mapping[str, Any], where: str) -> RegisteredNode:
    try:
        fmt = Format(entry.get("format", "native"))
        node = RegisteredNode(
            node_id=str(entry["id"]),
            coop_id=str(entry["coop"]),
            site_id=str(entry.get("site", "")),
            format=fmt,
            dev_eui=str(entry.get("dev_eui", "")).lower(),
            profile=str(entry.get("profile", "")),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise RegistryError(
            f"{where}: node entry {dict(entry) if isinstance(entry, Mapping) else entry!r} "
            f"is malformed ({exc})"
        ) from exc
    _check_ids(node, where)
    return node


def _check_ids(node: RegisteredNode, where: str) -> None:
    # Checked once here, so ingest need not check them again for every reading.
    for kind, ident, empty_ok in (
        ("node", node.node_id, False),
        ("coop", node.coop_id, False),
        ("site", node.site_id, True),
    ):
        bad = check_id(kind, ident, allow_empty=empty_ok)
        if bad is not None:
            raise RegistryError(f"{where}: {bad.detail}")


def nodes_from_document(doc: Any, where: str = "registry") -> list[RegisteredNode]:
    """Nodes from a parsed registry document (a ``nodes`` list or a fleet's ``cooperatives``).

    Raises:
        RegistryError: the document or an entry is malformed, or an id cannot be stored.
    """
    try:
        placed = placed_nodes(doc, where)
    except FleetFileError as exc:
        raise RegistryError(f"{exc}") from exc
    nodes = []
    for p in placed:
        node = RegisteredNode(
            p.spec.id, p.coop_id, p.site_id, Format(p.spec.format), p.spec.dev_eui, p.spec.profile
        )
        _check_ids(node, where)
        nodes.append(node)
    return nodes


class NodeRegistry:
    """Thread-safe lookups by node id and by DevEUI, optionally backed by a file reloaded on change."""

    def __init__(
        self,
        nodes: Iterable[RegisteredNode] = (),
        *,
        path: Path | None = None,
        loader: Callable[[], list[RegisteredNode]] | None = None,
    ) -> None:
        """Hold ``nodes``; with ``path`` (a file) or ``loader`` (e.g. :func:`database_loader`, whose
        nodes come with their ids checked), load them now and again in :meth:`refresh` when they
        change."""
        self._lock = threading.Lock()
        self._by_id: dict[str, RegisteredNode] = {}
        self._by_eui: dict[str, RegisteredNode] = {}
        self._path = path
        self._loader = loader
        self._mtime: float | None = None
        nodes = list(nodes)
        for node in nodes:
            _check_ids(node, "registry")
        self._set(nodes)
        if path is not None or loader is not None:
            self.refresh()

    def _set(self, nodes: list[RegisteredNode]) -> None:
        by_id = {n.node_id: n for n in nodes}
        by_eui = {n.dev_eui: n for n in nodes if n.dev_eui}
        # Lookups read these without a lock: replacing a reference is atomic, and the dicts
        # themselves are never changed after this point.
        with self._lock:
            self._by_id, self._by_eui = by_id, by_eui

    def refresh(self) -> bool:
        """Reload the file if it changed since the last load; returns whether it reloaded.

        Raises:
            RegistryError: the file is unreadable or malformed (the previous nodes stay in use).
        """
        if self._loader is not None:
            return self._reload(self._loader())
        if self._path is None:
            return False
        try:
            mtime = os.stat(self._path).st_mtime
        except OSError as exc:
            raise RegistryError(f"cannot read node registry {self._path}: {exc.strerror}") from exc
        if mtime == self._mtime:
            return False
        text = self._path.read_text()
        try:
            doc = json.loads(text) if self._path.suffix == ".json" else yaml.load(text, Loader=_SAFE_LOADER)
        except (ValueError, yaml.YAMLError) as exc:
            raise RegistryError(f"node registry {self._path} is not valid YAML/JSON: {exc}") from exc
        self._set(nodes_from_document(doc, str(self._path)))
        self._mtime = mtime
        return True

    def _reload(self, nodes: list[RegisteredNode]) -> bool:
        # The loader's nodes are already checked: database_loader builds them with _node.
        if {n.node_id: n for n in nodes} == self._by_id:
            return False
        self._set(nodes)
        return True

    def nodes(self) -> list[RegisteredNode]:
        """Every registered node."""
        return list(self._by_id.values())

    def by_id(self, node_id: str) -> RegisteredNode | None:
        """The node with this id, if registered."""
        return self._by_id.get(node_id)

    def by_dev_eui(self, dev_eui: str) -> RegisteredNode | None:
        """The node with this DevEUI (any case), if registered."""
        return self._by_eui.get(dev_eui.lower())

    def __len__(self) -> int:
        return len(self._by_id)


def database_loader(url: str) -> Callable[[], list[RegisteredNode]]:
    """A loader reading the registry database's nodes (see :mod:`storage.db`).

    Raises (when called):
        RegistryError: the database cannot be read or holds a node ingest cannot use.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import Node
    from storage.db.engine import open_registry

    sessions = open_registry(url)

    def load() -> list[RegisteredNode]:
        try:
            with sessions() as session:
                rows = session.execute(
                    select(
                        Node.id,
                        Node.coop_id,
                        Node.site_id,
                        Node.format,
                        Node.dev_eui,
                        Node.profile,
                    )
                ).all()
        except SQLAlchemyError as exc:
            raise RegistryError(f"cannot read the node registry database: {exc}") from exc
        return [
            _node(
                {
                    "id": r[0],
                    "coop": r[1],
                    "site": r[2],
                    "format": r[3],
                    "dev_eui": r[4] or "",
                    "profile": r[5],
                },
                "registry database",
            )
            for r in rows
        ]

    return load
