"""Decode throughput: Vigil's decoder beside a bare split/COBS/CRC/frombuffer loop.

Traffic is what a bedside monitor sends (the default channel set: 3 ECG leads at 500 Hz,
pleth 125 Hz, respiration 62.5 Hz, 1 Hz numerics/status/heartbeat, from the simulated
monitor) with corruption mixed in (flipped bits and garbage bursts). Both loops run on the
same bytes in the same process on one core; the result is stated as a multiple of a
921600-baud line and as a ratio to the bare loop (ratios within one run: these machines are
noisy). Targets (issue 3): >= 100x the line rate, >= 1/3 of the bare loop.

    python benchmarks/decode_throughput.py [--seconds 600] [--repeats 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import binascii
import json
import os
import platform
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from cobs import cobs
from plotting import pyplot_or_none

from vigil.firmware_bridge.codec import Decoder
from vigil.firmware_bridge.protocol import line_bytes_per_s
from vigil.firmware_bridge.simulator.channels import default_rates
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.sources import SyntheticSource

LINE_BAUD = 921_600
CHUNK = 4096  # what one serial read typically returns under load


def make_traffic(seconds: int, seed: int = 7, corrupt_every: int = 5000) -> bytes:
    monitor = SimulatedMonitor(SyntheticSource("pvc_rich", seed, default_rates()), seed=seed)
    clean = bytearray()
    step = 10
    for t in range(step, seconds + step, step):
        clean += monitor.frames_until(Fraction(t))
        if t % 60 == 0:
            print(f"generating traffic: {t}/{seconds} s of device time", file=sys.stderr)
    print(file=sys.stderr)
    rng = np.random.default_rng(seed)
    data = bytearray(clean)
    flips = rng.integers(0, len(data), len(data) // corrupt_every)
    for pos in flips:  # single bit errors, about one frame in 75 damaged
        data[pos] ^= 1 << int(rng.integers(0, 8))
    out = bytearray()
    cuts = np.sort(rng.integers(0, len(data), 20))
    last = 0
    for cut in cuts:  # garbage bursts (a noisy cable, a reset mid-frame)
        out += (
            data[last:cut]
            + rng.integers(0, 256, int(rng.integers(5, 200)), dtype=np.uint8).tobytes()
        )
        last = int(cut)
    out += data[last:]
    return bytes(out)


def bare_loop(data: bytes) -> int:
    """The floor: split on 0x00, COBS-decode (C), CRC (C), view WAVEFORM samples (numpy)."""
    frames = 0
    decode, crc, DecodeError = cobs.decode, binascii.crc_hqx, cobs.DecodeError
    frombuffer, i16 = np.frombuffer, np.dtype("<i2")
    for part in data.split(b"\x00"):
        if not part:
            continue
        try:
            frame = decode(part)
        except DecodeError:
            continue
        if len(frame) < 14 or crc(frame, 0xFFFF):
            continue
        if frame[1] == 2 and len(frame) > 23:
            frombuffer(frame, i16, (len(frame) - 23) >> 1, 21)
        frames += 1
    return frames


def vigil_decode(data: bytes, chunk: int | None) -> int:
    decoder = Decoder()
    if chunk is None:
        return len(decoder.feed(data))
    n = 0
    for start in range(0, len(data), chunk):
        n += len(decoder.feed(data[start : start + chunk]))
    return n


def best_time(fn, repeats: int) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="device time of traffic")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    using_c = bool(getattr(cobs, "_using_extension", False))
    if not using_c:
        print("WARNING: cobs C extension not loaded: the bare loop is pure Python", file=sys.stderr)
    data = make_traffic(args.seconds)
    line = line_bytes_per_s(LINE_BAUD)
    rows = {}
    for name, fn in {
        "bare loop (split + C COBS + crc_hqx + frombuffer)": lambda: bare_loop(data),
        "vigil Decoder, one feed": lambda: vigil_decode(data, None),
        f"vigil Decoder, {CHUNK}-byte reads": lambda: vigil_decode(data, CHUNK),
    }.items():
        seconds, frames = best_time(fn, args.repeats)
        rows[name] = {
            "seconds": seconds,
            "frames": frames,
            "bytes_per_s": len(data) / seconds,
            "frames_per_s": frames / seconds,
            "x_line_rate": len(data) / seconds / line,
        }
        row = rows[name]
        print(
            f"{name:52s} {row['bytes_per_s'] / 1e6:7.2f} MB/s "
            f"{row['frames_per_s'] / 1e3:8.1f} kframes/s {row['x_line_rate']:7.1f}x line"
        )
    bare = rows["bare loop (split + C COBS + crc_hqx + frombuffer)"]["bytes_per_s"]
    vigil = rows[f"vigil Decoder, {CHUNK}-byte reads"]["bytes_per_s"]
    ratio = vigil / bare
    x_line = vigil / line
    ok = x_line >= 100 and ratio >= 1 / 3
    print(f"\nvigil ({CHUNK}-byte reads) = {x_line:.0f}x a {LINE_BAUD}-baud line (target >= 100x), "
          f"{ratio:.2f} of the bare loop (target >= 0.33): {'PASS' if ok else 'FAIL'}")  # fmt: skip
    report = {
        "traffic_bytes": len(data),
        "device_seconds": args.seconds,
        "cobs_c_extension": using_c,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "line_baud": LINE_BAUD,
        "rows": rows,
        "vigil_over_bare": ratio,
        "pass": ok,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "decode_throughput.json").write_text(json.dumps(report, indent=2))
    _plot(rows, line, args.out / "decode_throughput.png")
    return 0 if ok else 1


def _plot(rows: dict, line: float, path: Path) -> None:
    plt = pyplot_or_none()
    if plt is None:
        return
    names = list(rows)
    values = [rows[n]["bytes_per_s"] / line for n in names]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.barh(names, values, color=["#999999", "#4878d0", "#1f4e9c"])
    ax.axvline(100, color="#d62728", linestyle="--")
    ax.set_xlabel("throughput, multiples of a 921600-baud line (one core)")
    ax.set_title("Decoding a bedside monitor's stream (dashed: target 100x)", fontsize=10)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
