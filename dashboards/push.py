"""`panen dashboards push`: put panen's datasource and dashboards into a Grafana you already run,
through its HTTP API (with httpx: ``grafana-client`` 4.3+ pulls in ``urllib3-future``, which replaces
the ``urllib3`` package and broke ``requests``-based tools in the same environment, schemathesis among
them; four REST calls do not need it).

Idempotent: the datasource (uid ``panen-influxdb``), the folder (uid ``panen``) and each dashboard
(its own uid) are created the first time and overwritten after, so pushing again after an upgrade
brings Grafana up to date. The Grafana token needs the Editor role (Admin to create datasources).
"""

from __future__ import annotations

from typing import Any

import httpx

from dashboards.build import DATASOURCE_UID, dashboards

__all__ = ["FOLDER_UID", "GrafanaError", "datasource_payload", "push"]

FOLDER_UID = "panen"


def datasource_payload(influx_url: str, database: str, token: str | None) -> dict[str, Any]:
    """The InfluxQL datasource the dashboards' queries name (uid ``panen-influxdb``)."""
    payload: dict[str, Any] = {
        "name": "panen InfluxDB",
        "uid": DATASOURCE_UID,
        "type": "influxdb",
        "access": "proxy",
        "url": influx_url,
        "jsonData": {"dbName": database, "httpMode": "GET"},
    }
    if token:
        # InfluxDB 2.x/3.x tokens go in an Authorization header; 1.x passwords as basic auth would
        # need a user, which panen's settings carry as PANEN_INFLUX_USER.
        payload["jsonData"]["httpHeaderName1"] = "Authorization"
        payload["secureJsonData"] = {"httpHeaderValue1": f"Token {token}"}
    return payload


class GrafanaError(RuntimeError):
    """Grafana refused a request or could not be reached; the message says which and why."""


def push(
    grafana_url: str, grafana_token: str, *, influx_url: str, database: str, influx_token: str | None
) -> list[str]:
    """Create or update the datasource, folder and dashboards; returns what was done, line by line.

    Raises:
        GrafanaError: Grafana refused (its message is included) or did not answer.
    """
    done = []
    base = grafana_url.rstrip("/")
    headers = {"Authorization": f"Bearer {grafana_token}", "Accept": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=15) as api:

        def call(
            method: str, path: str, body: object = None, *, ok_missing: bool = False
        ) -> httpx.Response | None:
            try:
                response = api.request(method, path, json=body)
            except httpx.HTTPError as exc:
                raise GrafanaError(f"{method} {base}{path}: {exc}") from exc
            if ok_missing and response.status_code == 404:
                return None
            if response.is_error:
                raise GrafanaError(f"{method} {base}{path}: {response.status_code} {response.text[:300]}")
            return response

        payload = datasource_payload(influx_url, database, influx_token)
        if call("GET", f"/api/datasources/uid/{DATASOURCE_UID}", ok_missing=True) is None:
            call("POST", "/api/datasources", payload)
            done.append(f"datasource {DATASOURCE_UID}: created")
        else:
            call("PUT", f"/api/datasources/uid/{DATASOURCE_UID}", payload)
            done.append(f"datasource {DATASOURCE_UID}: updated")
        if call("GET", f"/api/folders/{FOLDER_UID}", ok_missing=True) is None:
            call("POST", "/api/folders", {"uid": FOLDER_UID, "title": "panen"})
            done.append(f"folder {FOLDER_UID}: created")
        for name, dashboard in dashboards().items():
            call(
                "POST",
                "/api/dashboards/db",
                {"dashboard": {**dashboard, "id": None}, "folderUid": FOLDER_UID, "overwrite": True},
            )
            done.append(f"dashboard {dashboard['uid']} ({name}): pushed")
    return done
