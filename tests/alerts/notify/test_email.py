"""E-mail through a real aiosmtpd server in this process: STARTTLS, AUTH, retries, the message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from alerts.notify.email import EmailSender, SmtpOptions, SmtpUrlError, body_text, subject
from alerts.notify.retry import RetryPolicy
from tests.alerts.notify.receivers import (
    Certificate,
    MailDrop,
    alert_event,
    password_check,
    smtp_server,
    subscription,
)

FAST = RetryPolicy(attempts=3, backoff_s=0.05, jitter=0.0)
DUTY = "duty.officer@council.example"


@pytest.fixture
def servers() -> Iterator[list[Controller]]:
    started: list[Controller] = []
    yield started
    for controller in started:
        controller.stop()


def start(servers: list[Controller], drop: MailDrop, **parameters: object) -> Controller:
    controller = smtp_server(drop, **parameters)
    servers.append(controller)
    return controller


# -- the URL ---------------------------------------------------------------------------------


def test_an_smtp_url_gives_every_option() -> None:
    options = SmtpOptions.from_url(
        "smtp://alerts%40council.example:p%40ss@smtp.council.example:2525"
        "?starttls=true&from=gritting@council.example&timeout=4.5&ca_file=/etc/wherry/ca.pem"
    )
    assert options == SmtpOptions(
        host="smtp.council.example",
        port=2525,
        username="alerts@council.example",
        password="p@ss",
        starttls=True,
        from_address="gritting@council.example",
        timeout=4.5,
        ca_file=Path("/etc/wherry/ca.pem"),
    )
    assert "p@ss" not in repr(options)


def test_an_smtp_url_defaults_to_starttls_on_587_and_the_user_as_sender() -> None:
    options = SmtpOptions.from_url("smtp://gritting%40council.example:pw@mail.example")
    assert (options.port, options.starttls) == (587, True)
    assert options.from_address == "gritting@council.example"
    relay = SmtpOptions.from_url("smtp://localhost?starttls=false&from=wherry@depot.example")
    assert (relay.port, relay.starttls, relay.username) == (25, False, None)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("smtps://host:465", "starts with smtp://"),
        ("http://host", "starts with smtp://"),
        ("smtp://:pw@/", "names no host"),
        ("smtp://host?starttls=maybe", "starttls must be true or false"),
        ("smtp://host?tls=true", "unknown SMTP URL options ['tls']"),
        ("smtp://host?timeout=soon", "SMTP URL"),
    ],
)
def test_a_bad_smtp_url_says_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(SmtpUrlError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        SmtpOptions.from_url(url)


# -- the message -----------------------------------------------------------------------------


def test_subject_and_body_read_well_on_a_phone() -> None:
    event = alert_event("raised")
    assert subject(event) == "[wherry] TREAT R12 Matlock A6 — raised"
    text = body_text(event)
    assert text.splitlines()[:5] == [
        "TREAT R12 Matlock A6",
        "",
        "Raised · critical · alert 42",
        "route R12 · site Matlock · domain road",
        "At 2026-01-12 03:14:05 UTC",
    ]
    assert "  deciding_sensor: rst-12a" in text
    assert '  silent: ["rst-12c"]' in text
    assert max(len(line) for line in text.splitlines()) < 80


def test_a_long_summary_is_cut_to_fit_the_subject() -> None:
    event = alert_event(summary="TREAT " + "very long route name " * 20)
    assert len(subject(event)) < 150 and "…" in subject(event)


# -- delivery --------------------------------------------------------------------------------


def test_a_plain_local_relay_gets_the_message_with_the_json_attached(
    servers: list[Controller],
) -> None:
    drop = MailDrop()
    relay = start(servers, drop)
    options = SmtpOptions(host="127.0.0.1", port=relay.port, starttls=False,
                          from_address="wherry@depot.example")  # fmt: skip
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event("cleared")
    )
    assert delivery.delivered and delivery.attempts == 1
    [message] = drop.wait_for(1)
    assert message["Subject"] == "[wherry] TREAT R12 Matlock A6 — cleared"
    assert message["From"] == "wherry@depot.example"
    assert message["To"] == DUTY
    assert drop.envelopes[0].rcpt_tos == [DUTY]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content().splitlines()[:3] == [
        "TREAT R12 Matlock A6",
        "",
        "Cleared · critical · alert 42",
    ]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "wherry-alert-42-cleared.json"
    body = json.loads(attachment.get_content())
    assert (body["event"], body["alert_id"], body["cleared_at"]) == (
        "cleared", 42, "2026-01-12T03:14:05Z",
    )  # fmt: skip


def test_starttls_is_required_by_default(servers: list[Controller]) -> None:
    drop = MailDrop()
    plain_only = start(servers, drop)
    options = SmtpOptions(host="127.0.0.1", port=plain_only.port)
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event()
    )
    assert not delivery.delivered and delivery.attempts == 1
    assert "does not offer STARTTLS" in delivery.reason
    assert drop.data_commands == 0


def test_starttls_and_auth_with_a_private_ca(
    servers: list[Controller], certificate: Certificate
) -> None:
    drop = MailDrop()
    server = start(
        servers,
        drop,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=password_check("wherry", "correct horse"),
        auth_required=True,
    )
    options = SmtpOptions.from_url(
        f"smtp://wherry:correct%20horse@localhost:{server.port}"
        f"?from=wherry@council.example&ca_file={certificate.cert}"
    )
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event()
    )
    assert delivery.delivered, delivery.reason
    drop.wait_for(1)
    session = drop.sessions[0]
    assert session.ssl is not None, "the message went over TLS"
    assert session.authenticated and session.auth_data == b"wherry"


def test_a_wrong_password_is_not_retried(
    servers: list[Controller], certificate: Certificate
) -> None:
    drop = MailDrop()
    server = start(
        servers,
        drop,
        tls_context=certificate.server_context(),
        authenticator=password_check("wherry", "correct horse"),
        auth_required=True,
    )
    options = SmtpOptions(host="localhost", port=server.port, username="wherry",
                          password="wrong", ca_file=certificate.cert)  # fmt: skip
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event()
    )
    assert not delivery.delivered and delivery.attempts == 1
    assert "refused the login: 535" in delivery.reason
    assert drop.data_commands == 0


def test_a_certificate_from_an_unknown_ca_is_refused(
    servers: list[Controller], certificate: Certificate
) -> None:
    drop = MailDrop()
    server = start(servers, drop, tls_context=certificate.server_context())
    options = SmtpOptions(host="localhost", port=server.port)
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event()
    )
    assert not delivery.delivered and delivery.attempts == 1
    assert "certificate not trusted" in delivery.reason
    assert drop.data_commands == 0


def test_a_temporary_refusal_is_retried(servers: list[Controller]) -> None:
    drop = MailDrop(answers=["451 4.3.0 try again later", "421 4.3.2 busy"])
    server = start(servers, drop)
    options = SmtpOptions(host="127.0.0.1", port=server.port, starttls=False)
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event()
    )
    assert delivery.delivered and delivery.attempts == 3
    assert len(drop.wait_for(1)) == 1


def test_a_permanent_refusal_is_not_retried(servers: list[Controller]) -> None:
    drop = MailDrop(answers=["554 5.7.1 message refused"])
    server = start(servers, drop)
    options = SmtpOptions(host="127.0.0.1", port=server.port, starttls=False)
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event()
    )
    assert not delivery.delivered and delivery.attempts == 1
    assert "554 5.7.1 message refused" in delivery.reason


def test_a_server_that_is_not_there_is_retried_then_given_up_on() -> None:
    from tests.servers import free_port

    options = SmtpOptions(host="127.0.0.1", port=free_port(), starttls=False, timeout=1.0)
    delivery = EmailSender(options, retry=FAST).send(
        subscription(DUTY, channel="email"), alert_event()
    )
    assert not delivery.delivered and delivery.attempts == 3
    assert "gave up after 3 tries" in delivery.reason
