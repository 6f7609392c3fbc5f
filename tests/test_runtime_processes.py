"""The live runtime with its beds shared over two analysis worker processes
(`runtime.analysis_processes = 2`): the same end-to-end promises as in one process (VT shown
on the monitor and journaled, cable pull, acknowledgement over the control socket; SIGKILL of
the runtime is in test_runtime_process.py, for one and two processes), and a killed worker is
a technical alarm on its beds, not silence. Simulated monitors on real ptys at 4x; the
workers are real forked processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest
from runtime_rig import MonitorRig, wait_for

from vigil.firmware_bridge.protocol import AlarmPriority
from vigil.runtime.config import RuntimeConfig, config_in_folder
from vigil.runtime.control.client import send_request
from vigil.runtime.control.server import ControlServer
from vigil.runtime.journal import Journal
from vigil.runtime.service.runtime import VigilRuntime
from vigil.runtime.sinks.jsonl import JsonlSink

pytestmark = pytest.mark.slow

SPEED = Fraction(4)
PROCESSES = 2


def _config(tmp_path: Path, beds: list[tuple[str, str]]) -> RuntimeConfig:
    return config_in_folder(tmp_path, beds, link_lost_s=2.0, analysis_processes=PROCESSES)


@pytest.fixture
def live(tmp_path):
    """start(scenario_of_bed_1) -> (runtime, bed-1); bed-2 plays normal rhythm, so each of
    the two workers has one bed."""
    rigs: list[MonitorRig] = []
    runtimes: list[VigilRuntime] = []

    def start(scenario: str):
        rig = MonitorRig(speed=SPEED)
        bed = rig.add("bed-1", scenario, 1, tmp_path)
        other = rig.add("bed-2", "normal", 2, tmp_path)
        rigs.append(rig.start())
        config = _config(tmp_path, [("bed-1", bed.port), ("bed-2", other.port)])
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


def _kinds(runtime: VigilRuntime, bed: str = "bed-1") -> set[str]:
    return {a["kind"] for a in _alarms(runtime) if a["bed"] == bed}


def test_two_workers_each_analyse_their_beds_and_the_runtime_shows_both(live):
    runtime, _bed = live("normal")
    workers = runtime._shards.workers
    assert [w.beds for w in workers] == [(0,), (1,)]
    assert all(w.process.pid != os.getpid() for w in workers)
    view = wait_for(  # the view's snapshots are what ask the workers for ECG traces
        lambda: (
            (v := runtime.snapshot()) and all(b.heart_rate and len(b.ecg) for b in v.beds) and v
        ),
        30,
        "a heart rate and an ECG trace from each worker in the view",
    )
    for bed in view.beds:
        assert bed.link_state == "connected"
        assert bed.numerics
        assert bed.ecg_rate > 0
        assert len(bed.ecg) > 0


def test_vt_in_a_worker_is_alarmed_journaled_and_shown_on_the_monitor(live, tmp_path):
    runtime, bed = live("ventricular_tachycardia")
    vt = wait_for(lambda: [a for a in _alarms(runtime) if a["kind"] == "vt"], 40, "a VT alarm")[0]
    assert vt["bed"] == "bed-1"
    assert vt["priority"] == "high"
    assert vt["latching"] is True
    wait_for(
        lambda: any(
            m.priority is AlarmPriority.HIGH and m.alarm_id == vt["alarm_id"]
            for m in bed.monitor.alarms.values()
        ),
        5,
        "the monitor to show the VT alarm (an ALARM sent through the worker)",
    )
    runtime.stop()
    lines = [json.loads(x) for x in (tmp_path / "alarms.jsonl").read_text().splitlines()]
    emitted = [x for x in lines if x["alarm"]["alarm_id"] == vt["alarm_id"]]
    assert emitted
    journal = Journal(tmp_path / "journal.db")
    try:
        assert vt["alarm_id"] in {a.alarm_id for a in journal.open_alarms()}
    finally:
        journal.close()
    stamps = emitted[0]["stamps"]
    for stage in ("sample", "arrived", "queued", "analysed", "decided", "managed", "journaled"):
        assert stage in stamps, stage
    # CLOCK_MONOTONIC is one clock for every process: the worker's stamps precede the runtime's
    assert stamps["arrived"] <= stamps["analysed"] <= stamps["managed"] <= stamps["journaled"]
    # numerics came over the pipe into the journal's trends
    db = sqlite3.connect(tmp_path / "journal.db")
    beds = {row[0] for row in db.execute("SELECT DISTINCT bed FROM numerics")}
    db.close()
    assert beds == {"bed-1", "bed-2"}


def test_cable_pull_in_a_worker_raises_link_lost_and_reconnect_clears_it(live):
    runtime, bed = live("normal")
    wait_for(lambda: bed.monitor.sent_until >= 4, 10, "the link to run")
    bed.transport.unplug()
    lost = wait_for(
        lambda: [a for a in _alarms(runtime) if a["kind"] == "link_lost"], 10, "link lost"
    )[0]
    assert lost["bed"] == "bed-1"
    assert lost["priority"] == "high"
    bed.transport.replug()
    wait_for(lambda: "link_lost" not in _kinds(runtime), 15, "link lost to clear")


def test_acknowledge_from_the_control_socket_reaches_alarms_raised_in_a_worker(live, tmp_path):
    runtime, _bed = live("ventricular_tachycardia")
    server = ControlServer(runtime.config.runtime.control_socket, runtime.control_request)
    server.start()
    try:
        vt = wait_for(lambda: [a for a in _alarms(runtime) if a["kind"] == "vt"], 40, "VT")[0]
        socket_path = runtime.config.runtime.control_socket
        reply = send_request(socket_path, {"op": "ack", "alarm_id": vt["alarm_id"]})
        assert reply["ok"], reply
        now = next(a for a in _alarms(runtime) if a["alarm_id"] == vt["alarm_id"])
        assert now["state"] in ("acknowledged", "ended")
    finally:
        server.stop()
    runtime.stop()
    db = sqlite3.connect(tmp_path / "journal.db")
    rows = db.execute("SELECT action, actor FROM actions").fetchall()
    db.close()
    assert ("ack", f"socket:uid={os.getuid()}") in [(a, who.split(",")[0]) for a, who in rows]


def test_a_killed_worker_raises_link_lost_on_its_beds_and_is_restarted(live):
    runtime, _bed = live("normal")
    wait_for(lambda: runtime.snapshot().beds[0].heart_rate, 30, "bed-1 analysed")
    worker = runtime._shards.workers[0]
    dead_pid = worker.process.pid
    os.kill(dead_pid, signal.SIGKILL)
    lost = wait_for(
        lambda: [a for a in _alarms(runtime) if a["kind"] == "link_lost"], 10, "link lost"
    )[0]
    assert lost["bed"] == "bed-1"
    assert lost["priority"] == "high"
    assert lost["condition"]["evidence"]["cause"] == "analysis process died"
    assert lost["condition"]["evidence"]["exitcode"] == -signal.SIGKILL
    assert runtime.running  # the other worker's bed is still served
    assert "link_lost" not in _kinds(runtime, "bed-2")
    # a fresh worker takes bed-1 over: the alarm ends once its link is connected again
    wait_for(lambda: "link_lost" not in _kinds(runtime), 20, "link lost to end after a restart")
    assert worker.process.pid != dead_pid
    assert worker.restarts == 1
    bed_1 = runtime._beds[0]  # the runtime's copy, updated from the worker's status
    records = bed_1.records
    wait_for(lambda: bed_1.records > records, 10, "bed-1 analysed again by the new worker")


# -- `vigil run` as a process ---------------------------------------------------------------
