"""The end-to-end ingest benchmark's parts (bench/ingest.py runs them): one job per module.

- `fleet`: the 1,000 registered devices and their TTN uplinks, as bytes templates;
- `mqtt_wire` and `publisher`: a minimal MQTT 3.1.1 QoS 1 publisher in its own process;
- `store_watch`: how many uplinks InfluxDB holds, polled over time;
- `resources`: CPU seconds and RSS of each process, from /proc;
- `latency`: publish→stored latency and sustained rate from the two curves above;
- `limits` and `paho_subscriber`: the broker's and InfluxDB's own ceilings;
- `bridge`: `wherry run` (one process, or workers on a shared subscription);
- `nodered`: the peer, Node-RED in its two real-world flows;
- `phase`: one measured run of one system; `report`: the table and the targets;
- `lifecycle`: nothing left running, whatever happens.
"""
