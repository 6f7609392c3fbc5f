"""The live runtime end to end, in process: simulated monitors on real ptys, the real
`VigilRuntime` (serial links, analysis with ONNX Runtime, alarm manager, SQLite journal,
sinks, control socket) reading them. Scenarios play at 4x, so a 20 s onset comes after 5 s.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
from runtime_rig import MonitorRig, wait_for

from vigil.firmware_bridge.protocol import AlarmPriority
from vigil.runtime.analysis.settings import ModelSettings
from vigil.runtime.config import RuntimeConfig, config_in_folder
from vigil.runtime.control.client import send_request
from vigil.runtime.control.server import ControlServer
from vigil.runtime.journal import Journal
from vigil.runtime.service.runtime import VigilRuntime
from vigil.runtime.sinks.jsonl import JsonlSink

pytestmark = pytest.mark.slow

SPEED = Fraction(4)
ONSET_S = 20.0  # every built-in abnormal scenario starts its event at 20 s
PROCESSING_BOUND_S = 1.0  # generous: the runtime's own delay is milliseconds (benchmarks)


def _config(tmp_path: Path, beds: list[tuple[str, str]], **analysis) -> RuntimeConfig:
    return config_in_folder(tmp_path, beds, analysis=analysis, link_lost_s=2.0)


@pytest.fixture
def live(tmp_path):
    """start(scenario, ...) -> (runtime, simulated bed); everything stopped afterwards."""
    rigs: list[MonitorRig] = []
    runtimes: list[VigilRuntime] = []

    def start(scenario: str, seed: int = 1, **analysis):
        rig = MonitorRig(speed=SPEED)
        bed = rig.add("bed-1", scenario, seed, tmp_path)
        rigs.append(rig.start())
        config = _config(tmp_path, [("bed-1", bed.port)], **analysis)
        runtime = VigilRuntime(config, sinks=[JsonlSink(tmp_path / "alarms.jsonl")])
        runtimes.append(runtime.start())
        return runtime, bed

    yield start
    for runtime in runtimes:
        runtime.stop()
    for rig in rigs:
        rig.close()


def _alarms(runtime: VigilRuntime) -> list[dict]:
    return runtime.control_request({"op": "alarms"}, "test")["alarms"]


def _kinds(runtime: VigilRuntime) -> set[str]:
    return {a["kind"] for a in _alarms(runtime)}


def _device_seconds(bed) -> float:
    return float(bed.monitor.sent_until)


def test_vt_is_alarmed_high_and_latched_journaled_and_shown_on_the_monitor(live, tmp_path):
    runtime, bed = live("ventricular_tachycardia")
    vt = wait_for(lambda: [a for a in _alarms(runtime) if a["kind"] == "vt"], 40, "a VT alarm")[0]
    assert vt["priority"] == "high"
    assert vt["latching"] is True
    decided = vt["condition"]["decided_at_s"]
    assert ONSET_S <= vt["condition"]["onset_s"] <= decided <= ONSET_S + 5.0 + PROCESSING_BOUND_S
    # the device sink told the monitor: its lights and tone follow Vigil's decision
    wait_for(
        lambda: any(
            m.priority is AlarmPriority.HIGH and m.alarm_id == vt["alarm_id"]
            for m in bed.monitor.alarms.values()
        ),
        5,
        "the monitor to show the VT alarm",
    )
    # journaled before any sink: the JSONL sink's every VT event is in the journal
    runtime.stop()
    lines = [json.loads(x) for x in (tmp_path / "alarms.jsonl").read_text().splitlines()]
    emitted = [x for x in lines if x["alarm"]["alarm_id"] == vt["alarm_id"]]
    assert emitted
    journal = Journal(tmp_path / "journal.db")
    try:
        restored = {a.alarm_id: a for a in journal.open_alarms()}
    finally:
        journal.close()
    assert vt["alarm_id"] in restored
    stamps = emitted[0]["stamps"]
    for stage in ("arrived", "queued", "analysed", "decided", "managed", "journaled"):
        assert stage in stamps, stage
    assert stamps["arrived"] <= stamps["analysed"] <= stamps["managed"] <= stamps["journaled"]


def test_normal_rhythm_raises_no_physiological_alarm(live):
    runtime, bed = live("normal")
    wait_for(lambda: _device_seconds(bed) >= 45, 30, "45 s of normal rhythm")
    physiological = [a for a in _alarms(runtime) if a["category"] == "physiological"]
    assert physiological == []


def test_leads_off_gives_a_technical_alarm_and_no_asystole(live):
    runtime, bed = live("leads_off")
    wait_for(lambda: "leads_off" in _kinds(runtime), 30, "a leads-off technical alarm")
    wait_for(lambda: _device_seconds(bed) >= ONSET_S + 12, 20, "12 s of leads off")
    alarms = _alarms(runtime)
    leads_off = next(a for a in alarms if a["kind"] == "leads_off")
    assert leads_off["category"] == "technical"
    assert leads_off["latching"] is False
    assert not {"asystole", "vf", "pause"} & {a["kind"] for a in alarms}


def test_cable_pull_raises_link_lost_and_reconnect_clears_it(live):
    runtime, bed = live("normal")
    wait_for(lambda: _device_seconds(bed) >= 4, 10, "the link to run")
    bed.transport.unplug()
    lost = wait_for(
        lambda: [a for a in _alarms(runtime) if a["kind"] == "link_lost"], 10, "link lost"
    )[0]
    assert lost["category"] == "technical"
    assert lost["priority"] == "high"
    bed.transport.replug()
    wait_for(lambda: "link_lost" not in _kinds(runtime), 15, "link lost to clear")


def test_acknowledge_and_audio_pause_from_the_control_socket_are_journaled_with_who(live, tmp_path):
    runtime, _bed = live("ventricular_tachycardia")
    server = ControlServer(runtime.config.runtime.control_socket, runtime.control_request)
    server.start()
    try:
        vt = wait_for(lambda: [a for a in _alarms(runtime) if a["kind"] == "vt"], 40, "a VT alarm")[
            0
        ]
        socket_path = runtime.config.runtime.control_socket
        reply = send_request(socket_path, {"op": "pause", "bed": "bed-1"})
        assert reply["ok"], reply
        reply = send_request(socket_path, {"op": "ack", "alarm_id": vt["alarm_id"]})
        assert reply["ok"], reply
        now = next(a for a in _alarms(runtime) if a["alarm_id"] == vt["alarm_id"])
        assert now["state"] in ("acknowledged", "ended")
        assert now["acknowledged_by"].startswith("socket:uid=") or now["state"] == "ended"
        bad = send_request(socket_path, {"op": "ack", "alarm_id": 999_999})
        assert not bad["ok"]
        assert "999999" in json.dumps(bad)
    finally:
        server.stop()
    runtime.stop()
    import sqlite3

    rows = (
        sqlite3.connect(tmp_path / "journal.db")
        .execute("SELECT action, actor, outcome FROM actions ORDER BY seq")
        .fetchall()
    )
    actions = [(a, actor.split(",")[0]) for a, actor, _ in rows]
    assert ("audio_pause", f"socket:uid={__import__('os').getuid()}") in actions
    assert ("ack", f"socket:uid={__import__('os').getuid()}") in actions


def test_a_model_whose_hash_fails_is_refused_with_a_technical_alarm_and_rules_run_on(
    live, tmp_path
):
    from vigil.runtime.artifact_loader import shipped_artifact

    tampered = tmp_path / "ecg_beat"
    shutil.copytree(shipped_artifact("ecg_beat"), tampered)
    onnx = next(tampered.glob("model.onnx"))
    onnx.write_bytes(onnx.read_bytes()[:-16] + b"\0" * 16)
    runtime, _bed = live("ventricular_tachycardia", models=ModelSettings(ecg_beat=tampered))
    unavailable = wait_for(
        lambda: [a for a in _alarms(runtime) if a["kind"] == "model_unavailable"],
        20,
        "a model_unavailable technical alarm",
    )[0]
    assert "sha256" in json.dumps(unavailable["condition"]["evidence"]).lower()
    vt = wait_for(
        lambda: [a for a in _alarms(runtime) if a["kind"] == "vt"], 40, "VT by morphology"
    )[0]
    assert "morphology" in json.dumps(vt["condition"]["evidence"])


def test_a_restored_alarm_whose_condition_ended_while_down_ends_after_fresh_analysis(tmp_path):
    """leads off is journaled and the runtime stops; the next runtime, on a monitor whose
    leads are on, restores it, and ends it once a minute of fresh ECG has not raised it."""
    first = MonitorRig(speed=SPEED)
    bed = first.add("bed-1", "leads_off", 1, tmp_path)
    first.start()
    runtime = VigilRuntime(_config(tmp_path, [("bed-1", bed.port)])).start()
    try:
        wait_for(lambda: "leads_off" in _kinds(runtime), 30, "leads off")
    finally:
        runtime.stop()
        first.close()
    second = MonitorRig(speed=Fraction(8))
    bed = second.add("bed-1", "normal", 2, tmp_path)
    second.start()
    runtime = VigilRuntime(_config(tmp_path, [("bed-1", bed.port)])).start()
    try:
        assert "leads_off" in _kinds(runtime)  # restored at start
        wait_for(lambda: "leads_off" not in _kinds(runtime), 30, "the stale leads off to end")
        assert _device_seconds(bed) >= 60.0
    finally:
        runtime.stop()
        second.close()
