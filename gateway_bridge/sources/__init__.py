"""Transports that deliver raw messages: MQTT brokers and JSON Lines files.

Every source hands `RawMessage`s to one callback; none of them parses envelopes
or knows what the pipeline does with a message.
"""

from gateway_bridge.sources.file import read_jsonl
from gateway_bridge.sources.mqtt import MqttOptions, MqttOptionsError, MqttSource

__all__ = ["MqttOptions", "MqttOptionsError", "MqttSource", "read_jsonl"]
