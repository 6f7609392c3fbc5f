"""The firmware's C library (firmware_bridge/c/) against the vectors and the Python codec.

Real compiler, real code: the library is built with the strict flags the firmware uses
(warnings are errors) and driven through ctypes; a second build with AddressSanitizer and
UBSan runs a decoder fuzz through a small C harness. Skipped only when no C compiler exists.
"""

from __future__ import annotations

import ctypes
import math
import random
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cobs import cobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vigil.firmware_bridge
from vigil.firmware_bridge.codec import Decoder, Encoder
from vigil.firmware_bridge.messages import AlarmMsg, Heartbeat, Message, RequestHello
from vigil.firmware_bridge.protocol import (
    CRC_INIT,
    MAX_ENCODED,
    NUMERIC_FIELDS,
    AlarmPriority,
    AlarmState,
)
from vigil.firmware_bridge.vectors import load_vectors, message_from_json

C_DIR = Path(vigil.firmware_bridge.__file__).parent / "c"
SOURCES = [C_DIR / "vigil_proto.c", C_DIR / "vigil_proto.h"]
CC = shutil.which("cc") or shutil.which("gcc")
STRICT = [
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-Wconversion",
    "-Wsign-conversion",
    "-Wshadow",
    "-Wcast-qual",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
]
ALLOWED_HEADERS = {"stdint.h", "stddef.h", "string.h"}
VECTORS = load_vectors()
DEVICE_VECTORS = [v for v in VECTORS if v["direction"] == "device_to_host"]
HOST_VECTORS = [v for v in VECTORS if v["direction"] == "host_to_device"]

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc or gcc) on PATH")

ERR_SPACE = -2
ERR_RANGE = -3
WD_CONNECTED, WD_HOST_LOST = 0, 1
U32 = 1 << 32


def _compile(args: list[str], what: str) -> None:
    proc = subprocess.run([CC, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed to compile:\n$ {CC} {' '.join(args)}\n{proc.stderr}")


# ------------------------------------------------------------------------- ctypes


class Tx(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint16), ("frames_sent", ctypes.c_uint32)]


class Channel(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint8),
        ("kind", ctypes.c_uint8),
        ("rate_num", ctypes.c_uint32),
        ("rate_den", ctypes.c_uint16),
        ("scale", ctypes.c_float),
        ("offset", ctypes.c_float),
        ("units", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
    ]


class HelloS(ctypes.Structure):
    _fields_ = [
        ("boot_id", ctypes.c_uint32),
        ("time_scale_num", ctypes.c_uint16),
        ("time_scale_den", ctypes.c_uint16),
        ("heartbeat_ms", ctypes.c_uint16),
        ("host_timeout_ms", ctypes.c_uint16),
        ("device_id", ctypes.c_char_p),
        ("firmware", ctypes.c_char_p),
        ("channels", ctypes.POINTER(Channel)),
        ("n_channels", ctypes.c_uint8),
    ]


class NumericsS(ctypes.Structure):
    _fields_ = [("valid", ctypes.c_uint16), ("values", ctypes.c_float * 8)]


class StatusS(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint16),
        ("leads_off", ctypes.c_uint16),
        ("battery_pct", ctypes.c_uint8),
        ("fault_code", ctypes.c_uint16),
    ]


class AlarmS(ctypes.Structure):
    _fields_ = [
        ("alarm_id", ctypes.c_uint32),
        ("priority", ctypes.c_uint8),
        ("state", ctypes.c_uint8),
        ("flags", ctypes.c_uint8),
        ("text_len", ctypes.c_uint8),
        ("text", ctypes.c_char * 49),
    ]


class HostMsg(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint8),
        ("seq", ctypes.c_uint16),
        ("time_us", ctypes.c_uint64),
        ("alarm", AlarmS),
        ("rx_frames", ctypes.c_uint32),
    ]


COUNTER_NAMES = (
    "bytes_in",
    "bytes_good",
    "bytes_discarded",
    "frames_ok",
    "empty_frames",
    "cobs_errors",
    "crc_errors",
    "runts",
    "oversize",
    "bad_version",
    "unknown_type",
    "malformed",
    "seq_gaps",
    "frames_lost",
)


class Counters(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in COUNTER_NAMES]


class Rx(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.POINTER(ctypes.c_uint8)),
        ("cap", ctypes.c_size_t),
        ("len", ctypes.c_size_t),
        ("skipping", ctypes.c_uint8),
        ("have_seq", ctypes.c_uint8),
        ("expected_seq", ctypes.c_uint16),
        ("counters", Counters),
    ]


class Watchdog(ctypes.Structure):
    _fields_ = [
        ("timeout_ms", ctypes.c_uint32),
        ("last_heard_ms", ctypes.c_uint32),
        ("state", ctypes.c_int),
        ("losses", ctypes.c_uint32),
    ]


# The harness: the same receiver driven from C (for the sanitizer build), plus the struct
# layout as the compiler sees it, so the ctypes mirrors above cannot silently drift.
HARNESS = r"""
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include "vigil_proto.h"

#define SZ(t) printf(#t " %lu\n", (unsigned long)sizeof(t))

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] == 'L') {
        SZ(vgl_tx_t); SZ(vgl_channel_t); SZ(vgl_hello_t); SZ(vgl_numerics_t);
        SZ(vgl_status_t); SZ(vgl_alarm_t); SZ(vgl_host_msg_t); SZ(vgl_rx_counters_t);
        SZ(vgl_rx_t); SZ(vgl_watchdog_t);
        printf("host_msg.rx_frames %lu\n", (unsigned long)offsetof(vgl_host_msg_t, rx_frames));
        printf("rx.counters %lu\n", (unsigned long)offsetof(vgl_rx_t, counters));
        return 0;
    }
    /* Fuzz mode: decode stdin in pseudo-random chunks; print messages and counters. */
    unsigned long seed = argc > 1 ? strtoul(argv[1], NULL, 10) : 1u;
    size_t cap = 1 << 16, n = 0, i = 0;
    unsigned char *data = malloc(cap);
    uint8_t *buf = malloc(VGL_RX_BUFFER_MIN); /* exactly the minimum: ASan sees overruns */
    int c;
    vgl_rx_t rx;
    vgl_host_msg_t m;
    if (!data || !buf || vgl_rx_init(&rx, buf, VGL_RX_BUFFER_MIN) != 0) return 2;
    while ((c = getchar()) != EOF) {
        if (n == cap) { cap *= 2; data = realloc(data, cap); if (!data) return 2; }
        data[n++] = (unsigned char)c;
    }
    while (i < n) {
        size_t chunk, used;
        int got;
        seed = seed * 1103515245u + 12345u;
        chunk = 1 + (seed >> 8) % 700u;
        if (chunk > n - i) chunk = n - i;
        used = vgl_rx_feed(&rx, data + i, chunk, &m, &got);
        i += used;
        if (got) {
            size_t k;
            printf("M %u %u %llu %lu %u %u %u %lu ", m.type, m.seq,
                   (unsigned long long)m.time_us, (unsigned long)m.alarm.alarm_id,
                   m.alarm.priority, m.alarm.state, m.alarm.flags,
                   (unsigned long)m.rx_frames);
            for (k = 0; k < m.alarm.text_len; ++k) printf("%02x", (unsigned char)m.alarm.text[k]);
            printf("\n");
        }
    }
    printf("C");
    {
        const uint32_t *p = &rx.counters.bytes_in;
        size_t k;
        for (k = 0; k < sizeof rx.counters / sizeof *p; ++k) printf(" %lu", (unsigned long)p[k]);
    }
    printf("\nP %lu\n", (unsigned long)rx.len);
    free(data);
    free(buf);
    return 0;
}
"""


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("vigil_c")


@pytest.fixture(scope="session")
def lib(build_dir) -> ctypes.CDLL:
    so = build_dir / "libvigil_proto.so"
    _compile([*STRICT, "-O2", "-fPIC", "-shared", str(SOURCES[0]), "-o", str(so)], "vigil_proto.c")
    lib = ctypes.CDLL(str(so))
    p_u8 = ctypes.POINTER(ctypes.c_uint8)
    enc = [ctypes.POINTER(Tx), ctypes.c_uint64]
    out = [p_u8, ctypes.c_size_t]
    sigs = {
        "vgl_crc16_ccitt_false": (ctypes.c_uint16, [p_u8, ctypes.c_size_t]),
        "vgl_cobs_encode": (ctypes.c_int, [p_u8, ctypes.c_size_t, *out]),
        "vgl_cobs_decode": (ctypes.c_int, [p_u8, ctypes.c_size_t, *out]),
        "vgl_encode_hello": (ctypes.c_int, [*enc, ctypes.POINTER(HelloS), *out]),
        "vgl_encode_waveform": (
            ctypes.c_int,
            [
                *enc,
                ctypes.c_uint8,
                ctypes.c_uint64,
                ctypes.POINTER(ctypes.c_int16),
                ctypes.c_size_t,
                *out,
            ],
        ),
        "vgl_encode_numerics": (ctypes.c_int, [*enc, ctypes.POINTER(NumericsS), *out]),
        "vgl_encode_status": (ctypes.c_int, [*enc, ctypes.POINTER(StatusS), *out]),
        "vgl_encode_heartbeat": (ctypes.c_int, [*enc, ctypes.c_uint32, *out]),
        "vgl_encode_ack": (ctypes.c_int, [*enc, ctypes.c_uint32, *out]),
        "vgl_encode_audio_pause": (ctypes.c_int, [*enc, ctypes.c_uint16, *out]),
        "vgl_encode_alarm": (
            ctypes.c_int,
            [
                *enc,
                ctypes.c_uint32,
                ctypes.c_uint8,
                ctypes.c_uint8,
                ctypes.c_uint8,
                ctypes.c_char_p,
                *out,
            ],
        ),
        "vgl_encode_request_hello": (ctypes.c_int, [*enc, *out]),
        "vgl_encode_host_heartbeat": (ctypes.c_int, [*enc, ctypes.c_uint32, *out]),
        "vgl_rx_init": (ctypes.c_int, [ctypes.POINTER(Rx), p_u8, ctypes.c_size_t]),
        "vgl_rx_feed_byte": (
            ctypes.c_int,
            [ctypes.POINTER(Rx), ctypes.c_uint8, ctypes.POINTER(HostMsg)],
        ),
        "vgl_rx_feed": (
            ctypes.c_size_t,
            [
                ctypes.POINTER(Rx),
                ctypes.c_void_p,
                ctypes.c_size_t,
                ctypes.POINTER(HostMsg),
                ctypes.POINTER(ctypes.c_int),
            ],
        ),
        "vgl_watchdog_init": (None, [ctypes.POINTER(Watchdog), ctypes.c_uint32, ctypes.c_uint32]),
        "vgl_watchdog_host_frame": (None, [ctypes.POINTER(Watchdog), ctypes.c_uint32]),
        "vgl_watchdog_poll": (ctypes.c_int, [ctypes.POINTER(Watchdog), ctypes.c_uint32]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


@pytest.fixture(scope="session")
def harness(build_dir) -> Path:
    src = build_dir / "harness.c"
    src.write_text(HARNESS)
    exe = build_dir / "harness"
    _compile(
        ["-std=c99", "-O1", "-I", str(C_DIR), str(src), str(SOURCES[0]), "-o", str(exe)],
        "the test harness",
    )
    return exe


@pytest.fixture(scope="session")
def sanitized_harness(build_dir) -> Path:
    probe = build_dir / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    ok = subprocess.run(
        [CC, *flags, str(probe), "-o", str(build_dir / "probe")], capture_output=True, check=False
    )
    if ok.returncode != 0:
        pytest.skip(f"{CC} cannot build with {' '.join(flags)} here")
    src = build_dir / "harness.c"
    src.write_text(HARNESS)
    exe = build_dir / "harness_asan"
    _compile(
        [
            *STRICT[:1],
            "-O1",
            "-g",
            "-fno-omit-frame-pointer",
            *flags,
            "-I",
            str(C_DIR),
            str(src),
            str(SOURCES[0]),
            "-o",
            str(exe),
        ],
        "the sanitizer harness",
    )
    return exe


# ---------------------------------------------------------------------- helpers


def _buf(n: int, fill: int = 0xAA) -> ctypes.Array:
    return (ctypes.c_uint8 * n)(*([fill] * n))


def _u8p(arr: ctypes.Array) -> ctypes._Pointer:
    return ctypes.cast(arr, ctypes.POINTER(ctypes.c_uint8))


def _rate(s: str) -> tuple[int, int]:
    num, den = s.split("/")
    return int(num), int(den)


def _f32(v: float | str) -> float:
    return math.nan if v == "nan" else float(v)


def _c_encoder(lib: ctypes.CDLL, vector: dict):
    """A callable (tx, out, out_size) -> rc that runs the C encoder for this vector."""
    f = vector["fields"]
    t = vector["time_us"]
    typ = vector["type"]
    keep: list = []  # keeps ctypes objects alive while the callable lives
    if typ == "HELLO":
        chans = (Channel * len(f["channels"]))()
        for c, ch in zip(chans, f["channels"], strict=True):
            c.id, c.kind = ch["id"], ch["kind"]
            c.rate_num, c.rate_den = _rate(ch["rate"])
            c.scale, c.offset = _f32(ch["scale"]), _f32(ch["offset"])
            c.units, c.label = ch["units"].encode(), ch["label"].encode()
        ts_num, ts_den = _rate(f["time_scale"])
        msg = HelloS(
            f["boot_id"],
            ts_num,
            ts_den,
            f["heartbeat_ms"],
            f["host_timeout_ms"],
            f["device_id"].encode(),
            f["firmware"].encode(),
            chans,
            len(f["channels"]),
        )
        keep += [chans, msg]
        return lambda tx, out, n: lib.vgl_encode_hello(tx, t, msg, out, n)
    if typ == "WAVEFORM":
        samples = (ctypes.c_int16 * len(f["samples"]))(*f["samples"])
        keep.append(samples)
        return lambda tx, out, n: lib.vgl_encode_waveform(
            tx, t, f["channel"], f["first_index"], samples, len(samples), out, n
        )
    if typ == "NUMERICS":
        values = [_f32(f["values"][k]) for k in NUMERIC_FIELDS]
        msg = NumericsS(f["valid"], (ctypes.c_float * 8)(*values))
        keep.append(msg)
        return lambda tx, out, n: lib.vgl_encode_numerics(tx, t, msg, out, n)
    if typ == "STATUS":
        msg = StatusS(f["flags"], f["leads_off"], f["battery_pct"], f["fault_code"])
        keep.append(msg)
        return lambda tx, out, n: lib.vgl_encode_status(tx, t, msg, out, n)
    if typ == "HEARTBEAT":
        return lambda tx, out, n: lib.vgl_encode_heartbeat(tx, t, f["rx_frames"], out, n)
    if typ == "ACK":
        return lambda tx, out, n: lib.vgl_encode_ack(tx, t, f["alarm_id"], out, n)
    if typ == "AUDIO_PAUSE":
        return lambda tx, out, n: lib.vgl_encode_audio_pause(tx, t, f["seconds"], out, n)
    if typ == "ALARM":
        text = f["text"].encode()
        return lambda tx, out, n: lib.vgl_encode_alarm(
            tx, t, f["alarm_id"], f["priority"], f["state"], int(f["technical"]), text, out, n
        )
    if typ == "REQUEST_HELLO":
        return lambda tx, out, n: lib.vgl_encode_request_hello(tx, t, out, n)
    if typ == "HOST_HEARTBEAT":
        return lambda tx, out, n: lib.vgl_encode_host_heartbeat(tx, t, f["rx_frames"], out, n)
    raise AssertionError(typ)


class CReceiver:
    """vgl_rx_t with a guarded buffer: the bytes after the 1029 it may use must stay put."""

    GUARD = 64

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.rx = Rx()
        self.mem = _buf(MAX_ENCODED + self.GUARD, 0x5A)
        assert lib.vgl_rx_init(self.rx, _u8p(self.mem), MAX_ENCODED) == 0

    def feed(self, data: bytes, chunks: Iterator[int] | None = None) -> list[Message]:
        arr = (ctypes.c_uint8 * max(len(data), 1)).from_buffer_copy(data or b"\0")
        base = ctypes.addressof(arr)
        out, got, msgs, i = HostMsg(), ctypes.c_int(), [], 0
        while i < len(data):
            n = min(next(chunks) if chunks else len(data), len(data) - i)
            used = self.lib.vgl_rx_feed(self.rx, base + i, n, out, got)
            assert 1 <= used <= n
            i += used
            if got.value:
                msgs.append(_to_message(out))
        assert bytes(self.mem[MAX_ENCODED:]) == b"\x5a" * self.GUARD, "receiver overran"
        return msgs

    def counters(self) -> dict[str, int]:
        return {name: getattr(self.rx.counters, name) for name in COUNTER_NAMES}


def _to_message(m: HostMsg) -> Message:
    if m.type == 0x81:
        a = m.alarm
        # Not a.text: ctypes would stop at the first NUL, and "\x00" is valid text.
        text = ctypes.string_at(ctypes.addressof(a) + AlarmS.text.offset, a.text_len)
        text = text.decode("utf-8")
        return AlarmMsg(
            m.time_us,
            a.alarm_id,
            AlarmPriority(a.priority),
            AlarmState(a.state),
            bool(a.flags & 1),
            text,
        )
    if m.type == 0x82:
        return RequestHello(m.time_us)
    assert m.type == 0x85
    return Heartbeat(m.time_us, m.rx_frames, from_host=True)


def _python_view(data: bytes) -> tuple[list[Message], dict[str, int]]:
    decoder = Decoder(from_device=False)
    msgs = decoder.feed(data)
    counters = decoder.counters.as_dict()
    return msgs, {name: counters[name] for name in COUNTER_NAMES}


def _crc(data: bytes) -> bytes:
    import binascii

    return binascii.crc_hqx(data, CRC_INIT).to_bytes(2, "big")


def _raw_frame(version: int, typ: int, seq: int, time_us: int, payload: bytes) -> bytes:
    body = struct.pack("<BBHQ", version, typ, seq, time_us) + payload
    return cobs.encode(body + _crc(body)) + b"\x00"


# -------------------------------------------------------------------- the source


def test_library_source_includes_only_stdint_stddef_and_string() -> None:
    for path in SOURCES:
        text = path.read_text()
        includes = re.findall(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', text, re.MULTILINE)
        system = {name for kind, name in includes if kind == "<"}
        local = {name for kind, name in includes if kind == '"'}
        assert system <= ALLOWED_HEADERS, f"{path.name} includes {system - ALLOWED_HEADERS}"
        assert local <= {"vigil_proto.h"}
        code = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
        banned = re.findall(r"\b(malloc|calloc|realloc|free|printf|sprintf|isnan|nanf?)\s*\(", code)
        assert not banned, f"{path.name} uses {banned}"


def test_library_compiles_cleanly_with_strict_flags_at_every_optimisation(build_dir) -> None:
    for opt in ("-O0", "-Os"):
        obj = build_dir / f"vigil_proto{opt}.o"
        _compile([*STRICT, opt, "-c", str(SOURCES[0]), "-o", str(obj)], f"vigil_proto.c {opt}")


def test_ctypes_mirrors_match_the_c_struct_layouts(harness) -> None:
    out = subprocess.run([str(harness), "L"], capture_output=True, text=True, check=True).stdout
    sizes = dict(line.rsplit(" ", 1) for line in out.splitlines())
    mirrors = {
        "vgl_tx_t": Tx,
        "vgl_channel_t": Channel,
        "vgl_hello_t": HelloS,
        "vgl_numerics_t": NumericsS,
        "vgl_status_t": StatusS,
        "vgl_alarm_t": AlarmS,
        "vgl_host_msg_t": HostMsg,
        "vgl_rx_counters_t": Counters,
        "vgl_rx_t": Rx,
        "vgl_watchdog_t": Watchdog,
    }
    for name, mirror in mirrors.items():
        assert int(sizes[name]) == ctypes.sizeof(mirror), name
    assert int(sizes["host_msg.rx_frames"]) == HostMsg.rx_frames.offset
    assert int(sizes["rx.counters"]) == Rx.counters.offset


# ---------------------------------------------------------------------- helpers


def test_crc_check_value_and_whole_frame_residue(lib) -> None:
    data = b"123456789"
    assert lib.vgl_crc16_ccitt_false(_u8p(_bytes_arr(data)), 9) == 0x29B1
    frame = cobs.decode(bytes.fromhex(VECTORS[0]["wire"])[:-1])
    assert lib.vgl_crc16_ccitt_false(_u8p(_bytes_arr(frame)), len(frame)) == 0


def _bytes_arr(data: bytes) -> ctypes.Array:
    return (ctypes.c_uint8 * max(len(data), 1)).from_buffer_copy(data or b"\0")


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=800)
    | st.binary(min_size=250, max_size=520).map(lambda b: b.replace(b"\0", b"\1"))
)
def test_cobs_helpers_match_the_python_cobs_package(lib, data: bytes) -> None:
    expected = cobs.encode(data)
    out = _buf(len(data) + len(data) // 254 + 1)
    n = lib.vgl_cobs_encode(_u8p(_bytes_arr(data)), len(data), _u8p(out), len(out))
    assert bytes(out[:n]) == expected
    enc = _bytes_arr(expected)
    n = lib.vgl_cobs_decode(_u8p(enc), len(expected), _u8p(enc), len(expected))  # in place
    assert bytes(enc[:n]) == data
    small = _buf(len(expected) - 1) if expected else None
    if small is not None and len(expected) > 1:
        rc = lib.vgl_cobs_encode(_u8p(_bytes_arr(data)), len(data), _u8p(small), len(small))
        assert rc == ERR_SPACE


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\0", b"\1")))
def test_cobs_decode_accepts_exactly_what_python_accepts(lib, data: bytes) -> None:
    try:
        expected: bytes | None = cobs.decode(data)
    except cobs.DecodeError:
        expected = None
    out = _buf(len(data))
    n = lib.vgl_cobs_decode(_u8p(_bytes_arr(data)), len(data), _u8p(out), len(out))
    if expected is None:
        assert n == -4
    else:
        assert bytes(out[:n]) == expected


# ---------------------------------------------------------------------- encoders


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_c_encoder_reproduces_every_vector_byte_for_byte(lib, vector: dict) -> None:
    encode = _c_encoder(lib, vector)
    wire = bytes.fromhex(vector["wire"])
    tx = Tx(vector["seq"], 0)
    out = _buf(len(wire) + 32)
    n = encode(tx, _u8p(out), len(out))
    assert n == len(wire)
    assert bytes(out[:n]).hex() == vector["wire"]
    assert bytes(out[n:]) == b"\xaa" * 32
    assert tx.seq == (vector["seq"] + 1) & 0xFFFF
    assert tx.frames_sent == 1


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_c_encoder_never_writes_past_a_short_buffer(lib, vector: dict) -> None:
    encode = _c_encoder(lib, vector)
    need = len(vector["wire"]) // 2
    sizes = range(need) if need < 80 else [*range(0, 40), *range(need - 40, need)]
    for size in sizes:
        out = _buf(need + 8)
        tx = Tx(vector["seq"], 0)
        assert encode(tx, _u8p(out), size) == ERR_SPACE, size
        assert bytes(out[size:]) == b"\xaa" * (need + 8 - size), f"wrote past {size} bytes"
        assert tx.seq == vector["seq"], "a failed encode consumed a sequence number"


def test_c_encoder_refuses_out_of_protocol_values(lib) -> None:
    out = _buf(64)
    tx = Tx(0, 0)
    assert lib.vgl_encode_alarm(tx, 0, 1, 4, 0, 0, b"x", _u8p(out), 64) == ERR_RANGE
    assert lib.vgl_encode_alarm(tx, 0, 1, 0, 5, 0, b"x", _u8p(out), 64) == ERR_RANGE
    assert lib.vgl_encode_alarm(tx, 0, 1, 0, 0, 0, b"x" * 49, _u8p(out), 64) == ERR_RANGE
    assert lib.vgl_encode_alarm(tx, 0, 1, 0, 0, 0, b"\xc3(", _u8p(out), 64) == ERR_RANGE
    assert lib.vgl_encode_alarm(tx, 0, 1, 0, 0, 0, b"\xed\xa0\x80", _u8p(out), 64) == ERR_RANGE
    samples = (ctypes.c_int16 * 501)()
    big = _buf(1100)
    assert lib.vgl_encode_waveform(tx, 0, 1, 0, samples, 0, _u8p(big), 1100) == ERR_RANGE
    assert lib.vgl_encode_waveform(tx, 0, 1, 0, samples, 501, _u8p(big), 1100) == ERR_RANGE
    ch = (Channel * 2)(
        Channel(1, 2, 500, 1, 0.005, 0.0, b"mV", b"II"),
        Channel(1, 2, 500, 1, 0.005, 0.0, b"mV", b"II"),  # duplicate id
    )
    hello = HelloS(1, 1, 1, 1000, 5000, b"d", b"f", ch, 2)
    assert lib.vgl_encode_hello(tx, 0, hello, _u8p(big), 1100) == ERR_RANGE
    for bad in (
        HelloS(1, 0, 1, 1000, 5000, b"d", b"f", ch, 1),
        HelloS(1, 1, 1, 1000, 5000, b"d", b"f", ch, 0),
        HelloS(1, 1, 1, 1000, 5000, b"d" * 33, b"f", ch, 1),
    ):
        assert lib.vgl_encode_hello(tx, 0, bad, _u8p(big), 1100) == ERR_RANGE
    ch[0].scale = 0.0
    assert (
        lib.vgl_encode_hello(tx, 0, HelloS(1, 1, 1, 1, 1, b"d", b"f", ch, 1), _u8p(big), 1100)
        == ERR_RANGE
    )
    assert tx.seq == 0


def test_c_numerics_sends_infinity_or_an_unflagged_value_as_invalid_nan(lib) -> None:
    from vigil.firmware_bridge.codec import encode_frame
    from vigil.firmware_bridge.messages import NumericsMsg

    values = [math.inf, 98.0, -math.inf, 70.0, math.nan, 1.0, 2.0, 3.0]
    msg = NumericsS(0xFF, (ctypes.c_float * 8)(*values))
    msg.values[5] = 5.0  # valid bit cleared below: must go out as NaN
    msg.valid = 0xFF & ~(1 << 5)
    out = _buf(64)
    n = lib.vgl_encode_numerics(Tx(3, 0), 77, msg, _u8p(out), 64)
    expected = [math.nan, 98.0, math.nan, 70.0, math.nan, math.nan, 2.0, 3.0]
    assert bytes(out[:n]) == encode_frame(NumericsMsg(77, tuple(expected)), 3)


# ---------------------------------------------------------------------- decoder


@pytest.mark.parametrize("vector", HOST_VECTORS, ids=[v["name"] for v in HOST_VECTORS])
def test_c_decoder_decodes_every_host_vector_byte_by_byte(lib, vector: dict) -> None:
    rx = CReceiver(lib)
    out = HostMsg()
    wire = bytes.fromhex(vector["wire"])
    results = [lib.vgl_rx_feed_byte(rx.rx, b, out) for b in wire]
    assert results == [0] * (len(wire) - 1) + [1]
    assert out.type == vector["type_code"]
    assert out.seq == vector["seq"]
    assert _to_message(out) == message_from_json(vector)
    if vector["type"] == "ALARM":
        text = vector["fields"]["text"].encode()
        assert out.alarm.text_len == len(text)
        assert bytes(out.alarm.text) == text  # NUL-terminated
    assert rx.counters()["frames_ok"] == 1
    assert rx.counters()["bytes_good"] == len(wire)


@pytest.mark.parametrize("vector", DEVICE_VECTORS, ids=[v["name"] for v in DEVICE_VECTORS])
def test_c_decoder_counts_device_frames_as_unknown_type(lib, vector: dict) -> None:
    rx = CReceiver(lib)
    assert rx.feed(bytes.fromhex(vector["wire"])) == []
    assert rx.counters()["unknown_type"] == 1


_text = st.text(max_size=16).filter(lambda s: len(s.encode()) <= 48)
_host_msg = st.one_of(
    st.builds(
        AlarmMsg,
        st.integers(0, (1 << 64) - 1),
        st.integers(0, U32 - 1),
        st.sampled_from(AlarmPriority),
        st.sampled_from(AlarmState),
        st.booleans(),
        _text,
    ),
    st.builds(RequestHello, st.integers(0, (1 << 64) - 1)),
    st.builds(Heartbeat, st.integers(0, (1 << 64) - 1), st.integers(0, U32 - 1), st.just(True)),
)


def _chunks(seed: int) -> Iterator[int]:
    r = random.Random(seed)
    while True:
        yield r.choice((1, 2, 3, 7, 16, 64, 300, 2000))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    msgs=st.lists(st.tuples(_host_msg, st.binary(max_size=40)), max_size=12),
    first_seq=st.integers(0, 0xFFFF),
    chunk_seed=st.integers(0, 2**32),
)
def test_c_decoder_gets_exactly_the_messages_sent_through_garbage_and_chunking(
    lib, msgs, first_seq, chunk_seed
) -> None:
    encoder = Encoder(first_seq)
    stream = bytearray()
    for msg, garbage in msgs:
        stream += garbage + b"\x00" + encoder.encode(msg)
    rx = CReceiver(lib)
    got = rx.feed(bytes(stream), _chunks(chunk_seed))
    assert got == [m for m, _ in msgs]
    py_msgs, py_counters = _python_view(bytes(stream))
    assert py_msgs == got
    assert rx.counters() == py_counters
    c = rx.counters()
    assert c["bytes_in"] == c["bytes_good"] + c["bytes_discarded"] + rx.rx.len


def _cobs_data_positions(wire: bytes) -> list[int]:
    """Offsets of a wire frame's data bytes (neither COBS code bytes nor the delimiter)."""
    codes, pos = set(), 0
    while pos < len(wire) - 1:
        codes.add(pos)
        pos += wire[pos]
    return [i for i in range(len(wire) - 1) if i not in codes]


@settings(max_examples=150, deadline=None)
@given(
    msgs=st.lists(
        st.tuples(_host_msg, st.booleans(), st.integers(0, 10**6)), min_size=1, max_size=10
    ),
    chunk_seed=st.integers(0, 2**32),
)
def test_c_decoder_drops_bit_flipped_frames_as_crc_errors(lib, msgs, chunk_seed) -> None:
    encoder = Encoder()
    stream = bytearray()
    delivered, flipped = [], 0
    for msg, flip, where in msgs:
        wire = bytearray(encoder.encode(msg))
        if flip:
            pos = _cobs_data_positions(wire)
            i = pos[where % len(pos)]
            bits = [b for b in range(8) if wire[i] != 1 << b]  # never flip into a 0x00
            wire[i] ^= 1 << bits[where % len(bits)]
            flipped += 1
        else:
            delivered.append(msg)
        stream += wire
    rx = CReceiver(lib)
    assert rx.feed(bytes(stream), _chunks(chunk_seed)) == delivered
    c = rx.counters()
    assert c["crc_errors"] == flipped
    assert c["frames_ok"] == len(delivered)
    assert c == _python_view(bytes(stream))[1]


def _structured_frame(draw) -> bytes:
    """A CRC-valid frame that may be wrong in any other way: version, type, payload."""
    version = draw(st.sampled_from([1, 1, 1, 0, 2, 255]))
    typ = draw(st.sampled_from([0x81, 0x81, 0x82, 0x85, 0x01, 0x02, 0x05, 0x80, 0x86, 0xFF]))
    if typ == 0x81 and draw(st.booleans()):
        text = draw(st.binary(max_size=50))
        length = draw(st.sampled_from([len(text), len(text), len(text) + 1, 49, 255]))
        payload = (
            struct.pack(
                "<IBBBB",
                draw(st.integers(0, U32 - 1)),
                draw(st.integers(0, 5)),
                draw(st.integers(0, 6)),
                draw(st.integers(0, 255)),
                length & 0xFF,
            )
            + text
        )
    else:
        payload = draw(st.binary(max_size=12))
    return _raw_frame(
        version, typ, draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 2**64 - 1)), payload
    )


@st.composite
def _hostile_stream(draw) -> bytes:
    parts = draw(
        st.lists(
            st.one_of(
                st.binary(max_size=30),
                st.builds(
                    lambda n, b: bytes([b]) * n, st.integers(1000, 2200), st.integers(1, 255)
                ),
                st.composite(_structured_frame)(),
                st.just(b"\x00"),
            ),
            max_size=12,
        )
    )
    return b"".join(parts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=_hostile_stream(), chunk_seed=st.integers(0, 2**32))
def test_c_decoder_agrees_with_the_python_decoder_on_hostile_input(
    lib, stream: bytes, chunk_seed: int
) -> None:
    rx = CReceiver(lib)
    got = rx.feed(stream, _chunks(chunk_seed))
    py_msgs, py_counters = _python_view(stream)
    assert got == py_msgs
    assert rx.counters() == py_counters


def test_oversize_runs_are_counted_and_the_next_frame_still_decodes(lib) -> None:
    encoder = Encoder()
    hello = RequestHello(5)
    at_limit = b"\x01" * MAX_ENCODED + b"\x00"  # a bad frame (runt), not oversize
    one_over = b"\x07" * (MAX_ENCODED + 1) + b"\x00"
    long_run = bytes(range(1, 256)) * 40 + b"\x00"  # 10,200 bytes of garbage
    stream = at_limit + one_over + long_run + encoder.encode(hello)
    rx = CReceiver(lib)
    assert rx.feed(stream, _chunks(1)) == [hello]
    c = rx.counters()
    assert c["oversize"] == 2
    assert c == _python_view(stream)[1]


def _fuzz_corpus(seed: int, n: int) -> bytes:
    r = random.Random(seed)
    enc = Encoder(r.randrange(65536))
    out = bytearray(b"\x00")
    for _ in range(n):
        kind = r.random()
        if kind < 0.4:
            choice = r.randrange(3)
            t = r.randrange(2**64)
            if choice == 0:
                text = "".join(r.choice("aZ09 é₂/") for _ in range(r.randrange(12)))
                msg: Message = AlarmMsg(
                    t,
                    r.randrange(U32),
                    AlarmPriority(r.randrange(4)),
                    AlarmState(r.randrange(5)),
                    r.random() < 0.5,
                    text,
                )
            elif choice == 1:
                msg = RequestHello(t)
            else:
                msg = Heartbeat(t, r.randrange(U32), from_host=True)
            wire = bytearray(enc.encode(msg))
            if r.random() < 0.2:
                wire[r.randrange(len(wire))] ^= 1 << r.randrange(8)
            out += wire
        elif kind < 0.6:
            out += bytes(r.randrange(256) for _ in range(r.randrange(60)))
        elif kind < 0.7:
            out += bytes([r.randrange(1, 256)]) * r.randrange(900, 3000)
            if r.random() < 0.5:
                out += b"\x00"
        else:
            payload = bytes(r.randrange(256) for _ in range(r.randrange(60)))
            out += _raw_frame(
                r.choice([1, 1, 2]),
                r.choice([0x81, 0x82, 0x85, 0x02]),
                r.randrange(65536),
                r.randrange(2**64),
                payload,
            )
    return bytes(out)


def _parse_harness(stdout: str) -> tuple[list[Message], dict[str, int], int]:
    msgs: list[Message] = []
    counters: dict[str, int] = {}
    pending = -1
    for line in stdout.splitlines():
        kind, *f = line.split()
        if kind == "M":
            typ, seq, t, aid, prio, state, flags, rxf = map(int, f[:8])
            text = bytes.fromhex(f[8]).decode() if len(f) > 8 else ""
            m = HostMsg(typ, seq, t, AlarmS(aid, prio, state, flags, 0, b""), rxf)
            msg = _to_message(m)
            if isinstance(msg, AlarmMsg):
                msg = AlarmMsg(
                    msg.time_us, msg.alarm_id, msg.priority, msg.state, msg.technical, text
                )
            msgs.append(msg)
        elif kind == "C":
            counters = dict(zip(COUNTER_NAMES, map(int, f), strict=True))
        elif kind == "P":
            pending = int(f[0])
    return msgs, counters, pending


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sanitized_decoder_fuzz_matches_python_without_memory_errors(
    sanitized_harness, seed: int
) -> None:
    stream = _fuzz_corpus(seed, 400)
    proc = subprocess.run(
        [str(sanitized_harness), str(seed)],
        input=stream,
        capture_output=True,
        check=False,
        env={
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
            "UBSAN_OPTIONS": "print_stacktrace=1",
        },
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-4000:]
    msgs, counters, pending = _parse_harness(proc.stdout.decode())
    py_msgs, py_counters = _python_view(stream)
    assert msgs == py_msgs
    assert counters == py_counters
    assert counters["oversize"] > 0
    assert counters["crc_errors"] > 0
    assert len(msgs) > 50
    assert counters["bytes_in"] == counters["bytes_good"] + counters["bytes_discarded"] + pending


# ---------------------------------------------------------------------- watchdog


def _wd(lib, timeout_ms: int, now_ms: int) -> Watchdog:
    wd = Watchdog()
    lib.vgl_watchdog_init(wd, timeout_ms, now_ms)
    return wd


def test_watchdog_declares_host_lost_after_the_timeout_and_recovers_on_a_host_frame(lib) -> None:
    wd = _wd(lib, 5000, 1000)
    assert lib.vgl_watchdog_poll(wd, 1000) == WD_CONNECTED
    lib.vgl_watchdog_host_frame(wd, 3000)
    assert lib.vgl_watchdog_poll(wd, 7999) == WD_CONNECTED
    assert lib.vgl_watchdog_poll(wd, 8000) == WD_HOST_LOST
    assert lib.vgl_watchdog_poll(wd, 9000) == WD_HOST_LOST  # latched until the host is heard
    assert wd.losses == 1
    lib.vgl_watchdog_host_frame(wd, 9500)
    assert lib.vgl_watchdog_poll(wd, 9500) == WD_CONNECTED
    assert lib.vgl_watchdog_poll(wd, 14_499) == WD_CONNECTED
    assert lib.vgl_watchdog_poll(wd, 14_500) == WD_HOST_LOST
    assert wd.losses == 2


def test_watchdog_boot_without_a_host_ends_host_lost(lib) -> None:
    wd = _wd(lib, 0, 0)  # 0 = the default 5000 ms
    assert wd.timeout_ms == 5000
    states = [lib.vgl_watchdog_poll(wd, t) for t in range(0, 10_001, 100)]
    assert states[:50] == [WD_CONNECTED] * 50
    assert set(states[50:]) == {WD_HOST_LOST}


def test_watchdog_is_correct_across_the_u32_millisecond_wrap(lib) -> None:
    wd = _wd(lib, 5000, 0xFFFF_F000)  # 4096 ms before the wrap
    assert lib.vgl_watchdog_poll(wd, 0xFFFF_FFFF) == WD_CONNECTED
    assert lib.vgl_watchdog_poll(wd, 903) == WD_CONNECTED  # 4999 ms after init
    assert lib.vgl_watchdog_poll(wd, 904) == WD_HOST_LOST
    lib.vgl_watchdog_host_frame(wd, 0xFFFF_FFFE)
    assert lib.vgl_watchdog_poll(wd, 0xFFFF_FFFE) == WD_CONNECTED
    assert lib.vgl_watchdog_poll(wd, 4997) == WD_CONNECTED
    assert lib.vgl_watchdog_poll(wd, 4998) == WD_HOST_LOST


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, U32 - 1),
    timeout=st.integers(1, 0xFFFF),
    steps=st.lists(st.integers(0, 4000), max_size=30),
)
def test_watchdog_state_depends_only_on_time_since_the_host_modulo_2_32(
    lib, start, timeout, steps
) -> None:
    wd = _wd(lib, timeout, start)
    elapsed = 0
    for step in steps:
        elapsed += step
        expected = WD_HOST_LOST if elapsed >= timeout else WD_CONNECTED
        assert lib.vgl_watchdog_poll(wd, (start + elapsed) % U32) == expected
