"""`wherry demo` on embedded defaults: an in-process MQTT broker, the demo town's
fleet (Matlock: three gritting routes, road-surface probes, a weather station, a
school's classroom sensor, a river probe) and a simulator publishing their TTN
uplinks through an accelerated winter night.

Modules: `broker` (EmbeddedBroker), `fleet` (load_fleet and the CSVs in `data/`),
`simulator` (NightSimulator), `physics` (the curves), `payloads` (byte encoders),
`ttn` (the TTN v3 uplink JSON).
"""
