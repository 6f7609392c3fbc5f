"""The JSON messages between the runtime and its analysis workers: what goes over a pipe comes
back as the same values (conditions, stamps, numerics with NaN, device ALARMs, the view's
ECG), anything else is refused rather than guessed at, and the ECG traces travel only while a
live view asks for them."""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from vigil.firmware_bridge.link import LinkState
from vigil.firmware_bridge.messages import AlarmMsg
from vigil.firmware_bridge.protocol import AlarmPriority, AlarmState
from vigil.runtime.alarms.model import OperatorCommand
from vigil.runtime.analysis.condition import condition, ended
from vigil.runtime.config import config_in_folder
from vigil.runtime.service import wire
from vigil.runtime.service.bed import BedState
from vigil.runtime.service.bed_step import BedOutput
from vigil.runtime.service.shards import process_count
from vigil.runtime.service.worker import AnalysisWorker


def _round_trip(message: dict) -> dict:
    return wire.decode(wire.encode(message))


def test_a_record_outcome_comes_back_with_its_conditions_stamps_action_and_numerics():
    start = condition("vt", "bed-1", 20.5, value=182.0, evidence={"beats": 7}, decided_ns=5)
    end = ended(start, 31.0, decided_ns=9)
    out = BedOutput(
        3,
        conditions=(start, end),
        stamps={"arrived": 1, "queued": 2, "analysed": 3, "sample": 0},
        hello=True,
        action=OperatorCommand("ack", "bed-1", "device:SIM-1", alarm_id=12),
        numerics=(61.0, {"hr": 72.0, "spo2": math.nan}),
    )
    back = wire.output_from(_round_trip(wire.output_message(out)))
    assert back.bed == 3
    assert back.conditions == out.conditions
    assert back.stamps == out.stamps
    assert back.hello is True
    assert back.action == out.action
    assert back.numerics[0] == 61.0
    assert back.numerics[1]["hr"] == 72.0
    assert math.isnan(back.numerics[1]["spo2"])
    assert wire.output_message(out)["n"][1]["spo2"] is None  # NaN goes as null


def test_a_device_alarm_comes_back_as_the_same_message():
    msg = AlarmMsg(123456, 7, AlarmPriority.HIGH, AlarmState.LATCHED, False, "VT 182")
    assert wire.alarm_from(_round_trip(wire.alarm_message(4, msg))) == (4, msg)


def test_a_bed_status_carries_the_view_and_the_device_clock():
    worker_bed = BedState(0, "bed-1", "/dev/null", None, None, None)  # type: ignore[arg-type]
    worker_bed.device_s, worker_bed.first_device_s = 42.0, 1.0
    worker_bed.numerics, worker_bed.heart_rate = {"hr": 80.0, "rr": math.nan}, 79.5
    worker_bed._ecg = np.arange(10, dtype=np.float32)
    worker_bed._ecg_at, worker_bed._ecg_rate, worker_bed._ecg_label = 3, 500.0, "II"
    status = _round_trip(
        {"t": "status", "beds": [wire.bed_status(worker_bed, "connected", with_ecg=True)]}
    )["beds"][0]
    copy = BedState(0, "bed-1", "/dev/null", None, None, None)  # type: ignore[arg-type]
    assert wire.show_status(copy, status) == "connected"
    assert (copy.device_s, copy.first_device_s, copy.heart_rate) == (42.0, 1.0, 79.5)
    assert math.isnan(copy.numerics["rr"])
    assert np.array_equal(copy.ecg_tail()[0], worker_bed.ecg_tail()[0])
    assert copy.ecg_tail()[1:] == (500.0, "II")


@pytest.mark.parametrize("data", [b"\x80\x81", b"[1, 2]", b'{"no_type": 1}', b"{"])
def test_anything_but_a_typed_json_object_is_refused(data):
    with pytest.raises(wire.WireError):
        wire.decode(data)


def test_worker_count_is_capped_by_beds_and_zero_means_one_per_core():
    assert process_count(1, 40) == 1
    assert process_count(4, 2) == 2
    assert process_count(2, 64) == 2
    assert 1 <= process_count(0, 1000) <= 1000


class _QuietLink:
    """A link that never reads: enough for a worker's status."""

    def __init__(self, port: str) -> None:
        self.port_name = port

    def stats(self):
        return SimpleNamespace(state=LinkState.CONNECTED)

    def start(self) -> _QuietLink:
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        return None

    def send(self, msg: object) -> bool:
        return True


def test_a_worker_sends_ecg_traces_only_while_a_view_has_asked_for_them(tmp_path):
    config = config_in_folder(tmp_path, [("bed-1", "sim://bed-1")])
    runtime_end, worker_end = multiprocessing.Pipe()
    worker = AnalysisWorker(config, [0], worker_end, lambda port, baud, deliver: _QuietLink(port))
    threading.Thread(target=worker._read_parent, daemon=True).start()

    def status() -> dict:
        worker._send_status()
        return wire.decode(runtime_end.recv_bytes())["beds"][0]

    assert "ecg" not in status()  # headless: nobody would read it
    runtime_end.send_bytes(wire.encode(wire.view_message(time.monotonic_ns() + 60_000_000_000)))
    deadline = time.monotonic() + 10.0
    while "ecg" not in (shown := status()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "ecg" in shown
    runtime_end.send_bytes(wire.encode(wire.view_message(time.monotonic_ns() - 1)))
    deadline = time.monotonic() + 10.0
    while "ecg" in (shown := status()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "ecg" not in shown  # the view's request ran out
    runtime_end.send_bytes(wire.encode({"t": "stop"}))
