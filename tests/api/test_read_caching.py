"""What the read routes do for a slow link and a busy server (issue 42): a body the client already holds
is not sent again (ETag, 304), JSON and HTML are gzipped for clients that ask, personal pages are
never kept by a shared cache, and the field cache that spares the readings' scope check a registry
query never lets a farmer read a field that is no longer theirs."""

from __future__ import annotations

import gzip

from fastapi.testclient import TestClient

from sensors import Reading
from services.forecasting import ForecastService
from storage import TimeSeriesStore
from tests.api.conftest import TODAY, auth
from tests.season import NOW_MS

Client = tuple[TestClient, dict[str, str], ForecastService]
FIELD = "oro-oro-ombo-f01"
DAILY = f"/v1/fields/{FIELD}/daily?metric=soil_vwc_pct&metric=air_temp_c&start_day={TODAY.replace(day=1)}"


def test_a_body_the_client_holds_is_not_sent_again(client: Client, store: TimeSeriesStore) -> None:
    c, tokens, _ = client
    first = c.get(DAILY, headers=auth(tokens["farmer"]))
    assert first.status_code == 200
    assert first.json()
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"  # kept by the browser only, and asked
    again = c.get(DAILY, headers={**auth(tokens["farmer"]), "If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    # A new reading changes the answer: the old tag no longer matches.
    node = next(r.node_id for r in store.latest(site_ids=[FIELD]))
    store.write([Reading(node, "oro-oro-ombo", FIELD, "air_temp_c", 31.5, NOW_MS - 60_000)])
    changed = c.get(DAILY, headers={**auth(tokens["farmer"]), "If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    # Another person's tag is only a tag: a refusal stays a refusal.
    other = c.get(
        DAILY.replace(FIELD, "oro-oro-ombo-f02"), headers={**auth(tokens["farmer"]), "If-None-Match": tag}
    )
    assert other.status_code == 403


def test_answers_are_gzipped_for_clients_that_ask(client: Client) -> None:
    c, tokens, _ = client
    plain = c.get(DAILY, headers={**auth(tokens["farmer"]), "Accept-Encoding": "identity"})
    zipped = c.get(DAILY, headers={**auth(tokens["farmer"]), "Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()  # the client unzips; the body is the same
    assert len(gzip.compress(plain.content)) < len(plain.content) / 3  # JSON of numbers packs well
    assert zipped.headers["etag"] == plain.headers["etag"]  # the tag is the body's, not its encoding's


def test_the_field_page_is_never_kept(client: Client) -> None:
    """The page says no-store (a shared phone's back button after signing out must show nothing), so it
    carries no tag either."""
    c, tokens, _ = client
    page = c.get(f"/f/{FIELD}", headers={**auth(tokens["farmer"]), "Accept-Encoding": "gzip"})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "etag" not in page.headers
    assert page.headers["content-encoding"] == "gzip"


def test_a_field_given_to_another_farmer_is_closed_to_the_first_at_once(client: Client) -> None:
    c, tokens, _ = client
    latest = f"/v1/fields/{FIELD}/readings/latest"
    assert c.get(latest, headers=auth(tokens["farmer"])).status_code == 200  # the scope is now cached
    moved = c.patch(
        f"/v1/fields/{FIELD}", json={"farmer_id": "oro-oro-ombo-f02-farmer"}, headers=auth(tokens["admin"])
    )
    assert moved.status_code == 200, moved.text
    for path in (latest, DAILY, f"/v1/fields/{FIELD}/series?metric=soil_vwc_pct"):
        assert c.get(path, headers=auth(tokens["farmer"])).status_code == 403, path
    assert c.get(latest, headers=auth(tokens["manager"])).status_code == 200  # still the cooperative's
