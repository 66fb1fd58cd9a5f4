"""POST /ingest/ttn and /ingest/chirpstack: a shared secret, 2xx only after hand-off, bad
bodies kept and answered with the reason, a size limit and a limit on wrong secrets.

The real app over a real bridge (SQLite store and registry, batcher threads), as
`wherry run` wires it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.roles import Role
from api.services import RateLimit, Services
from tests.api_support import make_key, make_services
from tests.uplinks import dl_ds18_payload, encode, ttn_uplink
from wherry.bridge import Bridge, build_bridge
from wherry.imports import import_devices_file, import_routes_file
from wherry.ingest import webhook_ingest
from wherry.settings import Settings

SECRET = "s3cret-webhook-value-0123456789abcdef"
HEADER = "X-Wherry-Webhook-Secret"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECEIVED_NS = 1_768_446_000_123_456_789


@dataclass
class Ingest:
    client: TestClient
    services: Services
    bridge: Bridge

    def post(self, path: str, body: bytes, secret: str | None = SECRET) -> httpx.Response:
        headers = {HEADER: secret} if secret is not None else {}
        answer: httpx.Response = self.client.post(path, content=body, headers=headers)
        return answer


def good_uplink(device_id: str = "road-1", f_cnt: int = 1) -> bytes:
    return encode(
        ttn_uplink(
            device_id,
            received_at_ns=RECEIVED_NS + f_cnt,
            f_cnt=f_cnt,
            payload=dl_ds18_payload(1, 1.5),
            dev_eui="70b3d57ed0000001" if device_id == "road-1" else "70b3d57ed00000ff",
        )
    )


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[Ingest]:
    settings = Settings(
        data_dir=tmp_path, webhook_secret=SECRET, webhook_max_bytes=4096, flush_interval=0.05
    )
    (tmp_path / "routes.csv").write_text("route_id,name,length_km,priority,area\nhill,Hill,1,1,n\n")
    (tmp_path / "devices.csv").write_text(
        "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map\n"
        "road-1,70b3d57ed0000001,Road 1,decentlab-dl-ds18,road,hill,52.6,1.3,false,council,\n"
    )
    assert import_routes_file(settings, tmp_path / "routes.csv", dry_run=False, echo=print) == 0
    assert import_devices_file(settings, tmp_path / "devices.csv", dry_run=False, echo=print) == 0
    services = make_services(tmp_path)
    bridge = build_bridge(settings, services.store, services.registry)
    services.webhooks = webhook_ingest(settings, bridge, handoff_timeout_s=5.0)
    try:
        yield Ingest(TestClient(create_app(services)), services, bridge)
    finally:
        bridge.close(5)
        services.registry.close()
        services.store.close()


# -- the secret ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ingest/ttn", "/ingest/chirpstack"])
def test_without_the_secret_nothing_is_taken(ingest: Ingest, path: str) -> None:
    missing = ingest.post(path, good_uplink(), secret=None)
    wrong = ingest.post(path, good_uplink(), secret=SECRET[:-1] + "x")
    admin = ingest.client.post(
        path,
        content=good_uplink(),
        headers={"Authorization": f"Bearer {make_key(ingest.services, Role.admin)}"},
    )
    for answer, expected in ((missing, "no X-Wherry-Webhook-Secret"), (wrong, "wrong")):
        assert answer.status_code == 401, answer.text
        assert expected in answer.json()["detail"]
    assert admin.status_code == 401  # an API key is not the webhook secret
    assert ingest.bridge.counters.get("messages_received") == 0
    assert ingest.services.registry.dead_letter_counts() == {}


def test_wrong_secrets_are_limited_per_address_and_never_logged(
    ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    statuses = [
        ingest.post("/ingest/ttn", b"{}", secret=f"guess-{n}").status_code for n in range(12)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    limited = ingest.post("/ingest/ttn", b"{}", secret="guess-again")
    assert int(limited.headers["Retry-After"]) >= 1
    assert caplog.text.count("refused: wrong X-Wherry-Webhook-Secret") == 10  # not the 429s
    assert "guess-" not in caplog.text and SECRET not in caplog.text


def test_webhooks_with_the_secret_pass_the_anonymous_rate_limit(ingest: Ingest) -> None:
    ingest.services.rate_limit = RateLimit(per_minute=1, burst=2)
    client = TestClient(create_app(ingest.services))
    statuses = [
        client.post(
            "/ingest/ttn", content=good_uplink(f_cnt=n), headers={HEADER: SECRET}
        ).status_code
        for n in range(6)
    ]
    assert statuses == [202] * 6
    anonymous = [client.get("/api/v1/open/devices").status_code for _ in range(3)]
    assert anonymous == [200, 200, 429]  # the webhooks took none of the burst of 2


def test_ingest_is_off_without_a_configured_secret(ingest: Ingest) -> None:
    ingest.services.webhooks = None
    answer = ingest.post("/ingest/ttn", good_uplink())
    assert answer.status_code == 404
    assert "WHERRY_WEBHOOK_SECRET" in answer.json()["detail"]


# -- good bodies: 2xx only once stored ----------------------------------------------------------


def test_an_uplink_is_stored_before_the_answer(ingest: Ingest) -> None:
    answer = ingest.post("/ingest/ttn", good_uplink())
    assert answer.status_code == 202 and answer.json()["status"] == "accepted"
    # No waiting: the answer came after the points were written.
    [point] = ingest.services.store.query("reading", tags={"device_id": "road-1"})
    assert point.time_ns == RECEIVED_NS + 1
    assert point.fields["road_surface_temperature"] == pytest.approx(1.5)
    again = ingest.post("/ingest/ttn", good_uplink())  # TTN retries: idempotent
    assert again.status_code == 202
    assert ingest.services.store.count("uplink", "f_cnt") == 1


def test_an_unregistered_device_becomes_a_sighting_before_the_answer(ingest: Ingest) -> None:
    answer = ingest.post("/ingest/ttn", good_uplink("stranger-7"))
    assert answer.status_code == 202
    [sighting] = ingest.services.registry.sightings()
    assert sighting.device_id == "stranger-7"


@pytest.mark.parametrize(
    ("path", "fixture", "status", "outcome"),
    [
        ("/ingest/ttn", "ttn/join.json", 200, "ignored"),
        ("/ingest/ttn", "ttn/uplink-decoded-two-gateways.json", 202, "accepted"),
        ("/ingest/chirpstack?event=up", "chirpstack/up-decoded.json", 202, "accepted"),
        ("/ingest/chirpstack?event=join", "chirpstack/join.json", 200, "ignored"),
        ("/ingest/chirpstack", "chirpstack/status.json", 200, "ignored"),
    ],
)
def test_network_server_messages(
    ingest: Ingest, path: str, fixture: str, status: int, outcome: str
) -> None:
    answer = ingest.post(path, (FIXTURES / fixture).read_bytes())
    assert answer.status_code == status, answer.text
    assert answer.json()["status"] == outcome
    assert ingest.services.registry.dead_letter_counts() == {}


# -- bad bodies: 4xx with the reason, and kept ------------------------------------------------


def bad_bodies() -> list[tuple[str, bytes, int, str]]:
    good = json.loads(good_uplink())
    wrong_type = json.loads(good_uplink())
    wrong_type["uplink_message"]["f_cnt"] = "many"
    bad_base64 = json.loads(good_uplink())
    bad_base64["uplink_message"]["frm_payload"] = "@@not*base64@@"
    chirpstack_up = (FIXTURES / "chirpstack/up-decoded.json").read_bytes()
    return [
        ("/ingest/ttn", b"\xff\xfe{", 400, "malformed_json"),
        ("/ingest/ttn", good_uplink()[:50], 400, "malformed_json"),
        ("/ingest/ttn", good_uplink().replace(b'"f_cnt":1', b'"f_cnt":NaN'), 400, "malformed_json"),
        ("/ingest/ttn", b"[" * 2000 + b"]" * 2000, 400, "malformed_json"),
        ("/ingest/ttn", encode(wrong_type), 422, "invalid_envelope"),
        ("/ingest/ttn", encode(bad_base64), 422, "invalid_base64"),
        ("/ingest/ttn", b"[1, 2]", 422, "invalid_envelope"),
        ("/ingest/ttn", chirpstack_up, 422, "invalid_envelope"),
        ("/ingest/chirpstack?event=up", encode(good), 422, "invalid_envelope"),
    ]


@pytest.mark.parametrize(("path", "body", "status", "reason"), bad_bodies())
def test_a_bad_body_is_kept_as_a_dead_letter_and_answered_with_the_reason(
    ingest: Ingest, path: str, body: bytes, status: int, reason: str
) -> None:
    answer = ingest.post(path, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["reason"] == reason
    assert answer.json()["detail"]
    [letter] = ingest.services.registry.dead_letters()
    assert (letter.reason, letter.body) == (reason, body)
    assert letter.topic.startswith("webhook:")


def test_a_body_over_the_limit_is_refused_by_its_declared_length(ingest: Ingest) -> None:
    body = good_uplink()[:-1] + b',"padding":"' + b"x" * 10_000 + b'"}'
    answer = ingest.post("/ingest/ttn", body)
    assert answer.status_code == 413
    assert answer.json()["reason"] == "oversize"
    assert f"{len(body)} bytes" in answer.json()["detail"]
    [letter] = ingest.services.registry.dead_letters(reason="oversize")
    assert letter.body_size == 4097  # only the first limit + 1 bytes were read


def test_a_streamed_body_over_the_limit_is_cut_off_while_reading(ingest: Ingest) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(1000):  # 1 MB, without a Content-Length
            sent.append(1)
            yield b"y" * 1000

    answer = ingest.client.post("/ingest/ttn", content=chunks(), headers={HEADER: SECRET})
    assert answer.status_code == 413
    assert "more than the limit of 4096 bytes" in answer.json()["detail"]
    [letter] = ingest.services.registry.dead_letters(reason="oversize")
    assert letter.body_size == 4097


# -- no hand-off: never 2xx ----------------------------------------------------------------------


def test_a_message_not_taken_in_time_is_answered_503_with_retry_after(ingest: Ingest) -> None:
    ingest.bridge.intake.close()  # a clean stop under way: redeliverable messages are not taken
    answer = ingest.post("/ingest/ttn", good_uplink())
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert "send it again" in answer.json()["detail"]
    assert ingest.services.store.count("uplink", "f_cnt") == 0


def test_a_body_over_the_pipelines_own_limit_is_refused_not_accepted(ingest: Ingest) -> None:
    ingest.bridge.pipeline.max_message_bytes = 2048  # WHERRY_MAX_MESSAGE_BYTES below the webhook's
    body = good_uplink()[:-1] + b',"padding":"' + b"x" * 1500 + b'"}'
    assert 2048 < len(body) < 4096
    answer = ingest.post("/ingest/ttn", body)
    assert answer.status_code == 413
    assert answer.json()["reason"] == "oversize"
    assert ingest.services.registry.dead_letter_counts() == {"oversize": 1}
    assert ingest.services.store.count("uplink", "f_cnt") == 0
