"""The byte-exact vectors bind the Python codec to the spec (docs/protocol.md, section 6)."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest

from vigil.errors import ProtocolError
from vigil.firmware_bridge.codec import Decoder, encode_frame
from vigil.firmware_bridge.messages import ChannelInfo, Hello, NumericsMsg, Waveform
from vigil.firmware_bridge.protocol import MessageType
from vigil.firmware_bridge.vectors import (
    CASES,
    PROTOCOL_MD,
    VECTORS_JSON,
    case_as_json,
    docs_with_table,
    load_vectors,
    markdown_table,
    message_from_json,
    stale_files,
    vectors_json_text,
)
from vigil.firmware_bridge.vectors.__main__ import main as vectors_main

VECTORS = load_vectors()
IDS = [v["name"] for v in VECTORS]


def _cobs_codes(wire: bytes) -> list[int]:
    """The code bytes of one COBS-encoded frame (delimiter included)."""
    codes, pos = [], 0
    while pos < len(wire) - 1:
        codes.append(wire[pos])
        pos += wire[pos]
    return codes


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_python_encoder_reproduces_every_vector_byte_for_byte(vector: dict) -> None:
    wire = encode_frame(message_from_json(vector), vector["seq"])
    assert wire.hex() == vector["wire"]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_decoder_decodes_every_vector_to_its_message(vector: dict) -> None:
    decoder = Decoder(from_device=vector["direction"] == "device_to_host")
    wire = bytes.fromhex(vector["wire"])
    assert decoder.feed(wire) == [message_from_json(vector)]
    assert decoder.counters.frames_ok == 1
    assert decoder.counters.bytes_good == len(wire)
    assert decoder.counters.corrupt_frames == 0


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_the_other_directions_decoder_counts_a_vector_as_unknown_type(vector: dict) -> None:
    decoder = Decoder(from_device=vector["direction"] != "device_to_host")
    assert decoder.feed(bytes.fromhex(vector["wire"])) == []
    assert decoder.counters.unknown_type == 1


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_json_form_rebuilds_the_same_message(case) -> None:
    assert message_from_json(case_as_json(case)) == case.msg


def test_vectors_cover_every_message_type_and_the_edges() -> None:
    assert {v["type_code"] for v in VECTORS} == {int(t) for t in MessageType}
    assert {v["seq"] for v in VECTORS} >= {0, 1, 65535}
    assert {v["time_us"] for v in VECTORS} >= {0, (1 << 64) - 1}
    wires = [bytes.fromhex(v["wire"]) for v in VECTORS]
    assert any(len(w) > 256 for w in wires), "a frame spanning several COBS blocks"
    codes = [_cobs_codes(w) for w in wires]
    assert any(c[-1] == 0xFF for c in codes), "a frame ending in a full 254-byte COBS block"
    assert any(0xFF in c[:-1] for c in codes), "a full COBS block followed by more"
    rates = {ch["rate"] for v in VECTORS if v["type"] == "HELLO" for ch in v["fields"]["channels"]}
    assert "125/2" in rates
    assert "4/1" in {v["fields"]["time_scale"] for v in VECTORS if v["type"] == "HELLO"}
    texts = [v["fields"]["text"] for v in VECTORS if v["type"] == "ALARM"]
    assert "" in texts
    assert any(not t.isascii() for t in texts)
    alarms = [v["fields"] for v in VECTORS if v["type"] == "ALARM"]
    assert {a["priority"] for a in alarms} == {0, 1, 2, 3}
    assert {a["state"] for a in alarms} == {0, 1, 2, 3, 4}
    assert {a["technical"] for a in alarms} == {False, True}


def test_floats_in_the_json_are_exact_binary32_values() -> None:
    for v in VECTORS:
        floats = []
        if v["type"] == "HELLO":
            floats = [ch[k] for ch in v["fields"]["channels"] for k in ("scale", "offset")]
        elif v["type"] == "NUMERICS":
            floats = list(v["fields"]["values"].values())
        for x in floats:
            assert x == "nan" or struct.unpack("<f", struct.pack("<f", x))[0] == x


def test_vectors_json_and_docs_table_are_up_to_date() -> None:
    assert stale_files() == [], "run: python -m vigil.firmware_bridge.vectors"
    assert vectors_main(["--check"]) == 0
    if PROTOCOL_MD.exists():
        assert markdown_table() in PROTOCOL_MD.read_text(encoding="utf-8")


def test_check_reports_stale_json_and_docs(tmp_path) -> None:
    json_path = tmp_path / "vectors.json"
    docs = tmp_path / "protocol.md"
    json_path.write_text(vectors_json_text().replace('"seq": 1,', '"seq": 2,', 1))
    docs.write_text("# spec\n<!-- vectors:begin -->\nold\n<!-- vectors:end -->\ntail\n")
    assert stale_files(docs, json_path) == [json_path, docs]
    json_path.write_text(vectors_json_text(), encoding="utf-8")
    docs.write_text(docs_with_table(docs.read_text(), markdown_table()), encoding="utf-8")
    assert stale_files(docs, json_path) == []
    assert docs.read_text().endswith("<!-- vectors:end -->\ntail\n")
    assert vectors_main(["--check", "--docs", str(docs)]) == 0
    docs.write_text(docs.read_text().replace("| name |", "| nom |"), encoding="utf-8")
    assert vectors_main(["--check", "--docs", str(docs)]) == 1
    assert VECTORS_JSON.exists()


def test_numerics_infinity_is_sent_as_nan_flagged_invalid() -> None:
    inf = encode_frame(NumericsMsg(0, (math.inf, *([1.0] * 7))), 0)
    nan = encode_frame(NumericsMsg(0, (math.nan, *([1.0] * 7))), 0)
    assert inf == nan


def test_hello_that_no_decoder_would_accept_is_refused() -> None:
    ch = ChannelInfo(1, 2, Fraction(500), 0.005, 0.0, "mV", "II")
    with pytest.raises(ProtocolError, match="time_scale"):
        encode_frame(Hello(0, 1, "d", "f", (ch,), time_scale=Fraction(0)), 0)
    bad_offset = ChannelInfo(1, 2, Fraction(500), 0.005, math.inf, "mV", "II")
    with pytest.raises(ProtocolError, match="offset"):
        encode_frame(Hello(0, 1, "d", "f", (bad_offset,)), 0)


def test_device_side_decoder_counts_waveform_as_unknown_type() -> None:
    wave = encode_frame(Waveform(0, 1, 0, np.array([1], dtype="<i2")), 0)
    decoder = Decoder(from_device=False)
    assert decoder.feed(wave) == []
    assert decoder.counters.unknown_type == 1
