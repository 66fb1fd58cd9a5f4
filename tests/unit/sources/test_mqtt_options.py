"""MQTT settings: URLs, the QoS and session each kind of broker gets, and no password in logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway_bridge.sources.mqtt import MqttOptions, MqttOptionsError, MqttSource

TTN_TOPICS = ["v3/+/devices/+/up"]
OWN_TOPICS = ["application/+/device/+/event/up"]


def test_plain_url_with_credentials() -> None:
    options = MqttOptions.from_url("mqtt://bridge:s3cret@broker.example:1884", OWN_TOPICS)
    assert (options.host, options.effective_port, options.tls) == ("broker.example", 1884, False)
    assert (options.username, options.password) == ("bridge", "s3cret")
    assert options.topics == tuple(OWN_TOPICS)


@pytest.mark.parametrize(
    ("url", "port", "tls"), [("mqtt://h", 1883, False), ("mqtts://h", 8883, True)]
)
def test_default_ports(url: str, port: int, tls: bool) -> None:
    options = MqttOptions.from_url(url, OWN_TOPICS)
    assert (options.effective_port, options.tls) == (port, tls)
    assert options.username is None and options.password is None


def test_reserved_characters_in_credentials_are_percent_decoded() -> None:
    options = MqttOptions.from_url(
        "mqtts://wherry-roads%40ttn:NNSXS.ABC%3Adef%40%2F@eu1.cloud.thethings.network", TTN_TOPICS
    )
    assert options.username == "wherry-roads@ttn"
    assert options.password == "NNSXS.ABC:def@/"
    assert options.host == "eu1.cloud.thethings.network"


def test_ipv6_host() -> None:
    options = MqttOptions.from_url("mqtt://[::1]:1883", OWN_TOPICS)
    assert options.host == "::1"
    assert options.redacted_url == "mqtt://[::1]:1883"


def test_keyword_arguments_set_fields() -> None:
    options = MqttOptions.from_url(
        "mqtt://h", OWN_TOPICS, qos=0, client_id="worker-2", keepalive=30
    )
    assert (options.effective_qos, options.effective_client_id, options.keepalive) == (
        0,
        "worker-2",
        30,
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://broker:1883", "mqtt://"),
        ("broker:1883", "mqtt://"),
        ("mqtt://", "host"),
        ("mqtt://user:pw@:1883", "host"),
        ("mqtt://broker:port", "not valid"),
        ("mqtt://broker:70000", "not valid"),
        ("mqtt://broker:1883/v3/+/devices/+/up", "topics separately"),
        ("mqtt://broker?qos=1", "topics separately"),
    ],
)
def test_bad_urls_say_what_is_expected(url: str, says: str) -> None:
    with pytest.raises(MqttOptionsError, match=re.escape(says)):
        MqttOptions.from_url(url, OWN_TOPICS)


def test_bad_url_error_does_not_leak_the_password() -> None:
    with pytest.raises(MqttOptionsError) as caught:
        MqttOptions.from_url("https://user:hunter2@broker", OWN_TOPICS)
    assert "hunter2" not in str(caught.value)


def test_things_stack_topics_get_qos_0_and_a_clean_session() -> None:
    options = MqttOptions.from_url("mqtts://u:p@eu1.cloud.thethings.network", TTN_TOPICS)
    assert options.effective_qos == 0
    assert options.effective_persistent is False


@pytest.mark.parametrize(
    "host", ["eu1.cloud.thethings.network", "nam1.cloud.thethings.industries", "thethings.network."]
)
def test_things_stack_hosts_get_qos_0_whatever_the_topic(host: str) -> None:
    assert MqttOptions.from_url(f"mqtts://{host}", ["#"]).effective_qos == 0


def test_shared_subscriptions_to_things_stack_topics_get_qos_0() -> None:
    options = MqttOptions.from_url("mqtt://h", ["$share/wherry/v3/+/devices/+/up"])
    assert options.effective_qos == 0


def test_own_broker_gets_qos_1_and_a_persistent_session() -> None:
    options = MqttOptions.from_url("mqtt://localhost", [*OWN_TOPICS, *TTN_TOPICS])
    assert options.effective_qos == 1
    assert options.effective_persistent is True


def test_explicit_choices_win() -> None:
    options = MqttOptions.from_url("mqtt://localhost", OWN_TOPICS, qos=1, persistent=False)
    assert (options.effective_qos, options.effective_persistent) == (1, False)
    assert (
        MqttOptions.from_url("mqtt://eu1.cloud.thethings.network", TTN_TOPICS, qos=1).effective_qos
        == 1
    )


def test_default_client_id_is_stable_and_depends_on_broker_and_topics() -> None:
    first = MqttOptions.from_url("mqtt://u:p@localhost:1883", OWN_TOPICS).effective_client_id
    again = MqttOptions.from_url("mqtt://u:other@localhost", list(reversed(OWN_TOPICS)))
    assert re.fullmatch(r"wherry-[A-Za-z0-9-]+-[0-9a-f]{8}", first)
    assert again.effective_client_id == first  # a new password does not lose the session
    other_topics = MqttOptions.from_url("mqtt://u:p@localhost", ["wherry/#"])
    other_broker = MqttOptions.from_url("mqtt://u:p@elsewhere", OWN_TOPICS)
    assert len({first, other_topics.effective_client_id, other_broker.effective_client_id}) == 3


def test_password_never_appears_in_repr_or_str() -> None:
    options = MqttOptions.from_url(
        "mqtts://app@ttn:NNSXS.SECRET@eu1.cloud.thethings.network", TTN_TOPICS
    )
    for text in (repr(options), str(options), options.redacted_url, f"{options}"):
        assert "NNSXS.SECRET" not in text
    assert "***" in repr(options)
    assert options.redacted_url == "mqtts://app@ttn:***@eu1.cloud.thethings.network:8883"


@pytest.mark.parametrize(
    ("topics", "says"),
    [
        ([], "no topics"),
        ([""], "is empty"),
        (["a/#/b"], "#"),
        (["a/b#"], "#"),
        (["a/+b/c"], "+"),
        (["$share/wherry"], "$share"),
    ],
)
def test_bad_topics(topics: list[str], says: str) -> None:
    with pytest.raises(MqttOptionsError, match=re.escape(says)):
        MqttOptions.from_url("mqtt://h", topics)


def test_valid_wildcards() -> None:
    topics = ["#", "+", "v3/+/devices/+/up", "a/b/#", "$share/g/application/+/device/+/event/up"]
    assert MqttOptions.from_url("mqtt://h", topics).topics == tuple(topics)


def test_tls_files_need_tls_and_must_exist(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    with pytest.raises(MqttOptionsError, match="ca_file needs TLS"):
        MqttOptions.from_url("mqtt://h", OWN_TOPICS, ca_file=str(ca))
    with pytest.raises(MqttOptionsError, match="does not exist"):
        MqttOptions.from_url("mqtts://h", OWN_TOPICS, ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(MqttOptionsError, match="key_file needs cert_file"):
        MqttOptions.from_url("mqtts://h", OWN_TOPICS, key_file=str(ca))
    assert MqttOptions.from_url("mqtts://h", OWN_TOPICS, ca_file=str(ca)).ca_file == str(ca)


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"qos": 3}, "qos 3"),
        ({"protocol": "3.1"}, "protocol"),
        ({"keepalive": 0}, "keepalive"),
        ({"reconnect_min_delay": 0}, "reconnect delays"),
        ({"reconnect_min_delay": 10, "reconnect_max_delay": 5}, "reconnect delays"),
        ({"tls_insecure": True}, "tls_insecure needs TLS"),
    ],
)
def test_bad_settings_name_the_setting(kw: dict[str, object], says: str) -> None:
    with pytest.raises(MqttOptionsError, match=re.escape(says)):
        MqttOptions.from_url("mqtt://h", OWN_TOPICS, **kw)


def test_password_without_user_is_refused() -> None:
    with pytest.raises(MqttOptionsError, match="user name"):
        MqttOptions(host="h", topics=("t",), password="pw")


def test_options_are_frozen() -> None:
    options = MqttOptions.from_url("mqtt://h", OWN_TOPICS)
    with pytest.raises(AttributeError):
        options.host = "elsewhere"  # type: ignore[misc]


def test_unreadable_tls_files_fail_at_start_naming_the_setting(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    for setting in ("ca_file", "cert_file"):
        options = MqttOptions.from_url("mqtts://127.0.0.1:1", OWN_TOPICS, **{setting: str(garbage)})
        source = MqttSource(options, lambda message: None)
        with pytest.raises(MqttOptionsError, match=setting):
            source.start()
        source.stop()
