"""The Node-RED peer of the ingest benchmark: its flows and its decoders, without Node-RED.

Running the flows needs npm (`python -m bench.e2e.nodered_check` does that); the flow file
and the function node's JavaScript are checked here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.e2e import nodered


def _flows(*, batched: bool) -> list[dict[str, Any]]:
    return nodered.flows(
        broker_port=1883,
        influx_port=8086,
        database="peer",
        topic="v3/+/devices/+/up",
        batched=batched,
        ready_topic="wherry-bench/node-red/abc/ready",
    )


def _path_from(flow: list[dict[str, Any]], start: str) -> list[str]:
    """Node types from `start` along the first wire of each node."""
    by_id = {node["id"]: node for node in flow}
    types, node = [], by_id[start]
    while True:
        types.append(node["type"])
        wires = node.get("wires") or [[]]
        if not wires[0]:
            return types
        node = by_id[wires[0][0]]


def test_the_hackathon_flow_writes_each_uplink_on_its_own() -> None:
    flow = _flows(batched=False)
    assert _path_from(flow, "uplinks") == ["mqtt in", "json", "function", "influxdb out"]
    out = next(node for node in flow if node["type"] == "influxdb out")
    assert (out["measurement"], out["precision"]) == (nodered.COUNTED[0], "n")


def test_the_expert_flow_writes_batches_of_1000_and_flushes_the_rest_after_a_second() -> None:
    flow = _flows(batched=True)
    assert _path_from(flow, "uplinks") == ["mqtt in", "json", "function", "join", "influxdb batch"]
    join = next(node for node in flow if node["type"] == "join")
    assert (join["mode"], join["build"], join["count"], join["timeout"]) == (
        "custom",
        "array",
        "1000",
        "1",
    )


@pytest.mark.parametrize("batched", [False, True])
def test_both_flows_subscribe_at_qos_1_before_the_readiness_probe(batched: bool) -> None:
    flow = _flows(batched=batched)
    subscribers = [node for node in flow if node["type"] == "mqtt in"]
    assert [(node["topic"], node["qos"]) for node in subscribers] == [
        ("v3/+/devices/+/up", "1"),
        ("wherry-bench/node-red/abc/ready", "1"),
    ]
    assert {node["broker"] for node in subscribers} == {"mqtt-server"}


@pytest.mark.parametrize("batched", [False, True])
def test_no_node_id_is_also_a_node_type(batched: bool) -> None:
    """Node-RED reads a config node whose id equals a type as depending on itself."""
    flow = _flows(batched=batched)
    assert not {node["id"] for node in flow} & {node["type"] for node in flow}


def test_the_function_names_the_measurement_the_harness_counts() -> None:
    source = nodered.function_source(batched=True)
    assert source.startswith(f'var MEASUREMENT = "{nodered.COUNTED[0]}";')
    assert "function decodeUplink" in source


def test_install_says_what_to_install_without_node(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(nodered.NodeRedUnavailable, match="apt-get install nodejs npm"):
        nodered.install(tmp_path, lambda _: None)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (apt-get install nodejs)")
def test_the_flows_decode_the_benchmark_uplinks_as_wherry_does() -> None:
    from bench.e2e import nodered_check

    assert nodered_check.check_decoders() == 30


def test_a_peer_that_decodes_differently_is_caught() -> None:
    from bench.e2e import nodered_check

    uplink = nodered_check.sample_uplinks(1)[0]
    _, fields, time_ns = nodered_check.expected_point(uplink)
    assert nodered_check.received_at_ns(uplink["uplink_message"]["received_at"]) == time_ns
    assert nodered_check.same_fields(dict(fields), fields)
    assert not nodered_check.same_fields({**fields, "temperature": 99.0}, fields)
