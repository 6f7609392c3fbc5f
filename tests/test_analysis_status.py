"""Technical conditions from device status: probe off, device fault, battery low."""

from __future__ import annotations

import pytest

from vigil.models.synthetic import Event, PhysioState, Scenario, generate_recording
from vigil.records import DeviceStatus
from vigil.runtime.analysis.condition import Category, Priority
from vigil.runtime.analysis.status import StatusDetector


def status(t_s: float, **flags: object) -> DeviceStatus:
    fields = {
        "leads_off": (),
        "probe_off": False,
        "nibp_in_progress": False,
        "device_fault": False,
        "battery_low": False,
        "on_battery": False,
        "battery_pct": 90,
    }
    fields.update(flags)
    return DeviceStatus("monitor-1", int(t_s * 1e6), **fields)  # type: ignore[arg-type]


def test_probe_off_starts_once_while_the_flag_holds_and_ends_when_it_clears():
    det = StatusDetector("bed1")
    out = []
    for t, off in [(0, False), (1, True), (2, True), (3, True), (4, False), (5, False)]:
        out += det.update(status(t, probe_off=off), float(t))
    assert [(c.kind, c.onset_s, c.end_s) for c in out] == [
        ("probe_off", 1.0, None),
        ("probe_off", 1.0, 4.0),
    ]
    assert out[0].priority == Priority.MEDIUM
    assert out[0].category == Category.TECHNICAL
    assert not det.probe_off


def test_device_fault_is_high_priority_with_its_fault_code():
    det = StatusDetector("bed1")
    (c,) = det.update(status(7, device_fault=True, fault_code=42), 7.0)
    assert (c.kind, c.priority, c.evidence["fault_code"]) == ("device_fault", Priority.HIGH, 42)


def test_battery_low_follows_the_devices_flag_with_the_charge_as_evidence():
    det = StatusDetector("bed1")
    (c,) = det.update(status(3, battery_low=True, on_battery=True, battery_pct=12), 3.0)
    assert c.kind == "battery_low"
    assert c.evidence == {"source": "monitor-1", "battery_pct": 12, "on_battery": True}
    assert det.update(status(4, battery_low=True, battery_pct=11), 4.0) == []
    (end,) = det.update(status(5, battery_low=False, battery_pct=60), 5.0)
    assert end.end_s == 5.0


def test_leads_off_is_left_to_the_ecg_path():
    det = StatusDetector("bed1")
    assert det.update(status(1, leads_off=("ECG I", "ECG II")), 1.0) == []


def test_time_going_backwards_is_refused():
    det = StatusDetector("bed1")
    det.update(status(5), 5.0)
    with pytest.raises(ValueError, match="goes back"):
        det.update(status(4), 4.0)


def to_record(s) -> DeviceStatus:
    return status(
        s.t_s,
        probe_off=s.probe_off,
        device_fault=s.device_fault,
        battery_low=s.battery_pct < 20,  # the simulated monitor's rule
        battery_pct=s.battery_pct,
    )


def test_synthesizer_probe_off_fault_and_battery_scenario_end_to_end():
    events = (
        Event(10.0, (("probe_off", True),)),
        Event(20.0, (("probe_off", False), ("device_fault", True))),
        Event(25.0, (("device_fault", False),)),
        Event(5.0 + 25.0, (("battery_pct", 10.0),), ramp_s=10.0),
    )
    scn = Scenario("technical", "", PhysioState(battery_pct=30.0), events)
    block = generate_recording(scn, 1, 45)
    det = StatusDetector("bed1")
    out = [c for s in block.status for c in det.update(to_record(s), s.t_s)]
    spans = [(c.kind, c.onset_s, c.end_s) for c in out if c.end_s is not None]
    assert ("probe_off", 10.0, 20.0) in spans
    assert ("device_fault", 20.0, 25.0) in spans
    (battery,) = [c for c in out if c.kind == "battery_low"]
    assert 30.0 < battery.onset_s < 40.0  # 30 % -> 10 % over 30-40 s crosses 20 % half-way
