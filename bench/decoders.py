"""Payloads decoded per second, per decoder, on one core.

    .venv/bin/python bench/decoders.py [--seconds 0.5] [--decoder cayenne-lpp ...]

For each decoder one typical uplink is decoded in a loop: `decode()` (vendor fields,
readings with plausibility and dew point, i.e. what the pipeline calls) and, for
comparison, `decode_fields()` alone. Time is CPU time of this process (`process_time`),
so other work on the machine slows the figures less than wall-clock time would; rounds go
round-robin over the decoders and the best round of each is reported. Prints a table and
writes bench/results/decoders.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # this file is bench/decoders.py: do not let it shadow the package

from bench.machine import cpu_model  # noqa: E402
from decoders import all_decoders, decode, get_decoder  # noqa: E402

TARGET = 100_000  # payloads/s, for typical Cayenne LPP and Decentlab payloads
RESULTS = ROOT / "bench" / "results" / "decoders.json"
# The baseline, measured in the same run: json.loads of a typical TTN uplink message, work
# every uplink costs anyway. A ratio above 1 means decoding costs less than that parse.
BASELINE_BODY = (
    ROOT / "tests" / "fixtures" / "ttn" / "uplink-decoded-two-gateways.json"
).read_bytes()

# decoder id -> (description, f_port, payload hex, decoded_payload for `ttn`)
TYPICAL: dict[str, tuple[str, int, str, dict[str, Any] | None]] = {
    "cayenne-lpp": ("school sensor: temperature + humidity", 1, "0167011002680a", None),
    "decentlab-dl-ds18": ("road probe + battery", 1, "02023d0003815e0c15", None),
    "decentlab-dl-pm": (
        "all sensors",
        1,
        "021b50000f0c25002500270027002701f50107012c012d012d012d67bd618dbd10",
        None,
    ),
    "decentlab-dl-ctd10": ("depth, temperature, EC", 1, "0207d9000390888081006400000c60", None),
    "decentlab-dl-pr26": ("pressure, temperature + battery", 1, "02016700033e8060170c7f", None),
    "decentlab-dl-pr36": ("pressure, temperature + battery", 1, "02032b0003806797810c2b", None),
    "decentlab-dl-pr36ctd": ("all sensors", 1, "020a17000380079786978180060c2b", None),
    "decentlab-dl-optod": ("all sensors", 1, "02186c000300008862a618836583650c60", None),
    "decentlab-dl-ntu": ("all sensors", 1, "022332000300008885013e013e02330b10", None),
    "decentlab-dl-pheht": ("all sensors", 1, "0252b800030000884282c77f637ff60c5c", None),
    "dragino-lsn50v2-d20": ("IIC mode, probe + SHT", 2, "0b5400d2000000008c0205", None),
    "dragino-lsn50v2-d20-d22-d23": ("three probes", 2, "0b54fff100000cffff0014", None),
    "dragino-laq4": ("CO2 mode", 2, "0d07050012020b00fb01b3", None),
    "dragino-ldds75": ("5-byte frame", 2, "0e1c0b0500", None),
    "dragino-ldds75-114": ("distance + probe", 2, "0d3b0aef00000001", None),
    "dragino-lsph01": ("pH + temperature", 2, "0d230000025400f9000001", None),
    "elsys-elt-2": ("probe, temperature, humidity, vdd", 5, "0c00120100e20229070e10", None),
    "elsys-ers": ("temperature, humidity, light, motion", 5, "0100e202290400270506", None),
    "elsys-ers-co2": ("with CO2", 5, "0100e202290400270506060308", None),
    "elsys-ers-co2-lite": ("temperature, humidity, CO2", 5, "0100e20229060308", None),
    "milesight-em500-pt100": ("battery + temperature", 85, "01755c03671901", None),
    "milesight-em500-swl": ("battery + level", 85, "01755c03770200", None),
    "milesight-am103": ("temperature, humidity, CO2", 85, "01755c03673401046865077de704", None),
    "milesight-am307": ("temperature, humidity", 85, "01755c03673401046865056a4900", None),
    "milesight-am319": (
        "all sensors",
        85,
        "0367340104686505000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000",
        None,
    ),
    "ttn": (
        "TTS CayenneLPP formatter output",
        1,
        "",
        {"temperature_1": 27.200000762939453, "relative_humidity_2": 5.0},
    ),
}


def calibrate(call: Callable[[], object], seconds: float) -> int:
    """How many calls take about `seconds` of CPU time."""
    count = 1
    while True:
        started = time.process_time()
        for _ in range(count):
            call()
        spent = time.process_time() - started
        if spent >= seconds / 4:
            return max(1, int(count * seconds / spent))
        count *= 4


def best_rates(
    calls: dict[str, Callable[[], object]], seconds: float, rounds: int
) -> dict[str, float]:
    """Calls per CPU second for each call: best of `rounds` rounds of about `seconds`.

    Rounds go round-robin over all calls, so a burst of other work on the machine spoils
    one round of each rather than every round of one.
    """
    counts = {name: calibrate(call, seconds) for name, call in calls.items()}
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            count = counts[name]
            started = time.process_time()
            for _ in range(count):
                call()
            best[name] = min(best[name], (time.process_time() - started) / count)
    return {name: 1.0 / spent for name, spent in best.items()}


def machine() -> dict[str, str]:
    cpu = cpu_model()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Decoder throughput, payloads per second.")
    parser.add_argument("--seconds", type=float, default=0.1, help="CPU time of one round")
    parser.add_argument("--rounds", type=int, default=9, help="rounds; the best one counts")
    parser.add_argument("--decoder", action="append", help="only these decoder ids")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    ids = args.decoder or [decoder.id for decoder in all_decoders()]
    missing = [decoder_id for decoder_id in ids if decoder_id not in TYPICAL]
    if missing:
        parser.error(f"no typical payload for {', '.join(missing)}; add one to TYPICAL")

    about = machine()
    print(f"Python {about['python']} ({about['implementation']}) on {about['cpu']}")
    calls: dict[str, Callable[[], object]] = {}
    for decoder_id in ids:
        _, f_port, payload_hex, decoded_payload = TYPICAL[decoder_id]
        payload = bytes.fromhex(payload_hex)
        decode(decoder_id, payload, f_port, decoded_payload=decoded_payload)  # fails loudly
        calls[f"{decoder_id} decode"] = partial(
            decode, decoder_id, payload, f_port, decoded_payload=decoded_payload
        )
        if decoded_payload is None:
            calls[f"{decoder_id} fields"] = partial(
                get_decoder(decoder_id).decode_fields, payload, f_port
            )
    calls["baseline"] = partial(json.loads, BASELINE_BODY)
    rates = best_rates(calls, args.seconds, args.rounds)
    baseline = rates["baseline"]
    print(f"baseline: json.loads of a {len(BASELINE_BODY)}-byte TTN uplink, {baseline:,.0f}/s")

    print(
        f"{'decoder':30} {'bytes':>5} {'readings':>8} {'decode()/s':>12} {'× baseline':>10} "
        f"{'fields only/s':>14}"
    )
    results = []
    for decoder_id in ids:
        description, f_port, payload_hex, decoded_payload = TYPICAL[decoder_id]
        payload = bytes.fromhex(payload_hex)
        decoded = decode(decoder_id, payload, f_port, decoded_payload=decoded_payload)
        full = rates[f"{decoder_id} decode"]
        fields = rates.get(f"{decoder_id} fields")
        print(
            f"{decoder_id:30} {len(payload):>5} {len(decoded.readings):>8} {full:>12,.0f} "
            f"{full / baseline:>10.2f} {(f'{fields:,.0f}' if fields else '—'):>14}"
        )
        results.append(
            {
                "decoder": decoder_id,
                "payload": description,
                "f_port": f_port,
                "payload_hex": payload_hex,
                "bytes": len(payload),
                "readings": len(decoded.readings),
                "decode_per_second": round(full),
                "decode_vs_baseline": round(full / baseline, 3),
                "decode_fields_per_second": round(fields) if fields else None,
            }
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "bench/decoders.py",
                "command": ".venv/bin/python bench/decoders.py",
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": about,
                "target_per_second": TARGET,
                "baseline": {
                    "what": f"json.loads of a {len(BASELINE_BODY)}-byte TTN uplink message",
                    "per_second": round(baseline),
                },
                "clock": f"process CPU time, best of {args.rounds} round-robin rounds",
                "results": results,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
