"""`panen dashboards push`: put panen's datasource and dashboards into a Grafana you already run,
through its HTTP API with ``grafana-client``.

Idempotent: the datasource (uid ``panen-influxdb``), the folder (uid ``panen``) and each dashboard
(its own uid) are created the first time and overwritten after, so pushing again after an upgrade
brings Grafana up to date. The Grafana token needs the Editor role (Admin to create datasources).
"""

from __future__ import annotations

from typing import Any

from dashboards.build import DATASOURCE_UID, dashboards

__all__ = ["FOLDER_UID", "datasource_payload", "push"]

FOLDER_UID = "panen"


def datasource_payload(influx_url: str, database: str, token: str | None) -> dict[str, Any]:
    """The InfluxQL datasource, as provisioning files describe it (see deploy/grafana/)."""
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


def push(
    grafana_url: str, grafana_token: str, *, influx_url: str, database: str, influx_token: str | None
) -> list[str]:
    """Create or update the datasource, folder and dashboards; returns what was done, line by line.

    Raises:
        grafana_client.client.GrafanaException: Grafana refused (the message says why).
    """
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError

    api = GrafanaApi.from_url(grafana_url, credential=grafana_token, timeout=15)
    done = []
    payload = datasource_payload(influx_url, database, influx_token)
    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)
        api.datasource.update_datasource_by_uid(DATASOURCE_UID, payload)
        done.append(f"datasource {DATASOURCE_UID}: updated")
    except GrafanaClientError as exc:
        if getattr(exc, "status_code", None) != 404:
            raise
        api.datasource.create_datasource(payload)
        done.append(f"datasource {DATASOURCE_UID}: created")
    try:
        api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as exc:
        if getattr(exc, "status_code", None) != 404:
            raise
        api.folder.create_folder("panen", uid=FOLDER_UID)
        done.append(f"folder {FOLDER_UID}: created")
    for name, dashboard in dashboards().items():
        api.dashboard.update_dashboard(
            {"dashboard": {**dashboard, "id": None}, "folderUid": FOLDER_UID, "overwrite": True}
        )
        done.append(f"dashboard {dashboard['uid']} ({name}): pushed")
    return done
