"""Alarm sinks: the JSON Lines file, ALARM messages to the device, readable log lines.

Real files (and /dev/full for a failing disk) and the real wire codec; the device sink's
senders record the AlarmMsgs they are given, which is the sink's whole interface to a link.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alarm_values import make_alarm, make_event

from vigil.errors import LinkError
from vigil.firmware_bridge.codec import Decoder, Encoder
from vigil.firmware_bridge.messages import AlarmMsg
from vigil.firmware_bridge.protocol import MAX_ALARM_TEXT, AlarmPriority
from vigil.firmware_bridge.protocol import AlarmState as Wire
from vigil.runtime.alarm_text import alarm_text, fit_text
from vigil.runtime.alarms.model import AlarmState, EventKind
from vigil.runtime.alarms.serialize import event_from_dict, event_to_dict
from vigil.runtime.analysis.condition import (
    CONDITION_KINDS,
    Category,
    ConditionKind,
    Priority,
    register_kind,
)
from vigil.runtime.sinks.base import Sink, SinkError
from vigil.runtime.sinks.device import DeviceSink
from vigil.runtime.sinks.jsonl import JsonlSink
from vigil.runtime.sinks.log_lines import LogSink, event_line

VT = {"beat_times_s": [1.0, 1.4, 1.8, 2.2, 2.6], "rate_per_min": 152.4}


# ---------------------------------------------------------------------------- alarm text
@pytest.mark.parametrize(
    ("kind", "value", "key", "evidence", "text"),
    [
        ("vt", 152.4, "", VT, "VT 5 beats 152/min"),
        ("vt", 152.4, "", None, "VT 152/min"),
        ("asystole", float("nan"), "", None, "ASYSTOLE"),
        ("spo2_low", 86.0, "spo2", None, "SpO2 LOW 86"),
        ("temp_high", 39.46, "temp", None, "TEMP HIGH 39.5"),
        ("numeric_invalid", float("nan"), "spo2", None, "SpO2 INVALID"),
        ("leads_off", float("nan"), "", None, "ECG LEADS OFF"),
        ("battery_low", float("nan"), "", {"battery_pct": 9}, "BATTERY LOW 9%"),
        ("news2_high", 8.0, "", None, "NEWS2 8"),
        ("link_lost", float("nan"), "", None, "LINK LOST"),
        ("sink_failed", float("nan"), "mqtt", None, "SINK FAILED mqtt"),
    ],
)
def test_alarm_text_names_the_alarm_and_the_value_that_decided_it(kind, value, key, evidence, text):
    assert alarm_text(make_alarm(kind, value=value, key=key, evidence=evidence)) == text


def test_fit_text_cuts_utf8_bytes_without_splitting_a_character():
    text = "SpO₂ capteur débranché " * 4
    fitted = fit_text(text, MAX_ALARM_TEXT)
    assert len(fitted.encode("utf-8")) <= MAX_ALARM_TEXT
    assert text.startswith(fitted)
    assert fit_text("₂" * 30, 48) == "₂" * 16  # 3 bytes each: 16 fit, the 17th is not cut


# ---------------------------------------------------------------------------- JSON Lines
def test_jsonl_lines_read_back_as_the_events_written(tmp_path: Path):
    path = tmp_path / "alarms.jsonl"
    sink = JsonlSink(path)
    first = [make_event(make_alarm()), make_event(make_alarm("leads_off", alarm_id=13))]
    ack = make_event(
        make_alarm(state=AlarmState.ACKNOWLEDGED, acknowledged_by="view"),
        EventKind.ACKNOWLEDGED,
        audible=False,
        actor="view",
    )
    sink.emit(first, {})
    sink.emit([ack], {})
    sink.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    for line, event in zip(lines, [*first, ack], strict=True):
        record = json.loads(line)
        wall = datetime.fromisoformat(record.pop("wall_utc"))
        assert wall.utcoffset() == timezone.utc.utcoffset(None)
        back = event_from_dict(record)
        assert event_to_dict(back) == event_to_dict(event)
        assert back.stamps == event.stamps


def test_jsonl_appends_to_an_existing_file(tmp_path: Path):
    path = tmp_path / "alarms.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")
    sink = JsonlSink(path, fsync=True)
    sink.emit([make_event(make_alarm())], {})
    sink.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"earlier": true}'
    assert json.loads(lines[1])["alarm"]["alarm_id"] == 12


def test_jsonl_writes_a_non_finite_evidence_number_as_null_not_nan(tmp_path: Path):
    path = tmp_path / "alarms.jsonl"
    sink = JsonlSink(path)
    sink.emit([make_event(make_alarm(evidence={"limit": float("inf"), "xs": [float("nan")]}))], {})
    sink.close()
    evidence = json.loads(path.read_text(encoding="utf-8"))["alarm"]["condition"]["evidence"]
    assert evidence == {"limit": None, "xs": [None]}


def test_jsonl_in_a_missing_folder_is_a_sink_error_naming_the_path(tmp_path: Path):
    path = tmp_path / "no-such-folder" / "alarms.jsonl"
    with pytest.raises(SinkError, match=re.escape(str(path))):
        JsonlSink(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_jsonl_in_an_unwritable_folder_is_a_sink_error_naming_the_path(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(SinkError, match=r"ro/alarms\.jsonl"):
        JsonlSink(folder / "alarms.jsonl")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_jsonl_write_failure_is_a_sink_error_naming_the_file():
    sink = JsonlSink(Path("/dev/full"))  # every write fails: "No space left on device"
    with pytest.raises(SinkError, match="/dev/full"):
        sink.emit([make_event(make_alarm())], {})


def test_every_sink_satisfies_the_sink_protocol(tmp_path: Path):
    sinks: list[Sink] = [
        JsonlSink(tmp_path / "a.jsonl"),
        DeviceSink({}, clock_us=lambda: 0),
        LogSink(),
    ]
    assert [s.name for s in sinks] == ["jsonl", "device", "log"]
    for sink in sinks:
        sink.close()


# ---------------------------------------------------------------------------- device
class Port:
    """A sender as the runtime passes `SerialLink.send`: records, and can be 'down'."""

    def __init__(self) -> None:
        self.sent: list[AlarmMsg] = []
        self.up = True
        self.broken = False

    def __call__(self, msg: AlarmMsg) -> bool:
        if self.broken:
            raise LinkError("port /dev/ttyUSB0 is not open")
        if self.up:
            self.sent.append(msg)
        return self.up


def device_sink(*beds: str) -> tuple[DeviceSink, dict[str, Port]]:
    ports = {bed: Port() for bed in beds}
    clock = iter(range(1_000_000, 10**9, 1000))
    return DeviceSink(ports, clock_us=lambda: next(clock)), ports


@pytest.mark.parametrize(
    ("state", "audible", "wire"),
    [
        (AlarmState.ACTIVE, True, Wire.ACTIVE),
        (AlarmState.ACTIVE, False, Wire.AUDIO_PAUSED),
        (AlarmState.LATCHED, True, Wire.LATCHED),
        (AlarmState.LATCHED, False, Wire.AUDIO_PAUSED),
        (AlarmState.ACKNOWLEDGED, False, Wire.ACKNOWLEDGED),
        (AlarmState.ENDED, False, Wire.ENDED),
    ],
)
def test_device_is_sent_the_wire_state_that_follows_the_manager(state, audible, wire):
    sink, ports = device_sink("bed-1")
    sink.emit([make_event(make_alarm(state=state, evidence=VT), audible=audible)], {})
    (msg,) = ports["bed-1"].sent
    assert (msg.alarm_id, msg.state, msg.priority, msg.technical) == (
        12,
        wire,
        AlarmPriority.HIGH,
        False,
    )
    assert msg.text == "VT 5 beats 152/min"
    assert msg.time_us == 1_000_000


def test_device_gets_nothing_for_pending_or_cancelled_alarms_or_beds_without_a_port():
    sink, ports = device_sink("bed-1")
    sink.emit(
        [
            make_event(make_alarm(state=AlarmState.PENDING), EventKind.PENDING, audible=False),
            make_event(make_alarm(state=AlarmState.ENDED), EventKind.CANCELLED, audible=False),
            make_event(make_alarm(bed="bed-9")),
        ],
        {},
    )
    assert ports["bed-1"].sent == []
    assert sink.sent == sink.dropped == 0


def test_device_message_carries_priority_and_technical_flag_and_survives_the_codec():
    sink, ports = device_sink("bed-1")
    leads = make_alarm("leads_off", alarm_id=7)
    sink.emit([make_event(leads)], {})
    (msg,) = ports["bed-1"].sent
    assert (msg.priority, msg.technical, msg.text) == (AlarmPriority.MEDIUM, True, "ECG LEADS OFF")
    decoded = Decoder(from_device=False).feed(Encoder().encode(msg))
    assert decoded == [msg]


def test_device_text_is_cut_to_the_wires_48_bytes():
    name = "capteur_de_pression_artérielle_débranché_côté_gauche"
    if name not in CONDITION_KINDS:
        register_kind(ConditionKind(name, Priority.LOW, Category.TECHNICAL, False, "test kind"))
    sink, ports = device_sink("bed-1")
    long = make_alarm(name, key="capteur-numéro-2", value=1.5)
    assert len(alarm_text(long).encode("utf-8")) <= MAX_ALARM_TEXT
    sink.emit([make_event(long)], {})
    (msg,) = ports["bed-1"].sent
    assert 40 < len(msg.text.encode("utf-8")) <= MAX_ALARM_TEXT
    assert Decoder(from_device=False).feed(Encoder().encode(msg)) == [msg]


def test_a_port_that_is_down_counts_drops_and_the_next_change_resends():
    sink, ports = device_sink("bed-1")
    port = ports["bed-1"]
    port.up = False
    sink.emit([make_event(make_alarm())], {})  # does not raise
    assert (sink.sent, sink.dropped, port.sent) == (0, 1, [])
    port.up = True
    sink.emit([make_event(make_alarm(state=AlarmState.LATCHED), EventKind.CONDITION_ENDED)], {})
    assert [m.state for m in port.sent] == [Wire.LATCHED]
    assert (sink.sent, sink.dropped) == (1, 1)


def test_resend_all_brings_a_reconnected_device_up_to_date():
    sink, ports = device_sink("bed-1", "bed-2")
    port = ports["bed-1"]
    vt = make_alarm(evidence=VT)
    spo2 = make_alarm("spo2_low", alarm_id=13, value=86.0, key="spo2")
    leads = make_alarm("leads_off", alarm_id=14)
    sink.emit([make_event(vt), make_event(spo2), make_event(leads)], {})
    sink.emit([make_event(vt, EventKind.AUDIO_PAUSED, audible=False)], {})
    port.up = False  # cable out: the end of alarm 14 does not reach the device
    sink.emit(
        [make_event(make_alarm("leads_off", AlarmState.ENDED, alarm_id=14), EventKind.ENDED)], {}
    )
    port.up = True
    port.sent.clear()
    other = make_alarm(bed="bed-2", alarm_id=15)
    sink.resend_all([vt, spo2, other], "bed-1")
    assert [(m.alarm_id, m.state) for m in port.sent] == [
        (14, Wire.ENDED),  # the end it missed
        (12, Wire.AUDIO_PAUSED),  # in the state last sent: its bed is still paused
        (13, Wire.ACTIVE),
    ]
    assert ports["bed-2"].sent == []
    port.sent.clear()
    sink.resend_all([vt, spo2], "bed-1")  # the missed end went through: not sent again
    assert [m.alarm_id for m in port.sent] == [12, 13]


def test_a_sender_that_raises_is_a_sink_error_after_the_other_events_are_sent():
    sink, ports = device_sink("bed-1", "bed-2")
    ports["bed-1"].broken = True
    with pytest.raises(SinkError, match="alarm #12"):
        sink.emit([make_event(make_alarm()), make_event(make_alarm(bed="bed-2", alarm_id=20))], {})
    assert [m.alarm_id for m in ports["bed-2"].sent] == [20]
    assert sink.dropped == 1


# ---------------------------------------------------------------------------- log lines
def test_log_lines_say_bed_id_priority_kind_event_text_and_sound(caplog):
    sink = LogSink()
    vt = make_alarm(evidence=VT)
    spo2 = make_alarm("spo2_low", alarm_id=13, value=86.0, key="spo2")
    ack = make_alarm(state=AlarmState.ACKNOWLEDGED, evidence=VT, acknowledged_by="view")
    with caplog.at_level(logging.INFO, logger="vigil.alarms"):
        sink.emit(
            [
                make_event(vt),
                make_event(spo2, audible=False),
                make_event(ack, EventKind.ACKNOWLEDGED, audible=False, actor="socket:uid=0,pid=7"),
            ],
            {},
        )
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "vigil.alarms",
            logging.ERROR,
            "bed-1 #12 HIGH vt activated: VT 5 beats 152/min (audible)",
        ),
        (
            "vigil.alarms",
            logging.WARNING,
            "bed-1 #13 MEDIUM spo2_low activated: SpO2 LOW 86 (silent, audio paused)",
        ),
        (
            "vigil.alarms",
            logging.INFO,
            "bed-1 #12 HIGH vt acknowledged by socket:uid=0,pid=7: VT 5 beats 152/min "
            "(silent, acknowledged)",
        ),
    ]


def test_log_lines_mark_technical_alarms_and_log_low_priority_at_info():
    leads = make_event(make_alarm("leads_off", alarm_id=3))
    assert (
        event_line(leads)
        == "bed-1 #3 MEDIUM technical leads_off activated: ECG LEADS OFF (audible)"
    )
    logger = logging.getLogger("test.sinks.low")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        LogSink(logger).emit([make_event(make_alarm("couplet", alarm_id=4))], {})
    finally:
        logger.removeHandler(handler)
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "bed-1 #4 LOW couplet activated: COUPLET (audible)")
    ]
