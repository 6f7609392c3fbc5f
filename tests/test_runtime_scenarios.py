"""Every built-in scenario through the live runtime at once: one bed per scenario, each a
simulated monitor on a real pty, one `VigilRuntime` serving them all. Each scenario must
raise its alarm with the right priority within its clinical delay plus a processing bound,
and nothing it should not (docs/scenarios.md lists what each one expects)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from runtime_rig import MonitorRig, wait_for

from vigil.runtime.config import config_in_folder
from vigil.runtime.service.runtime import VigilRuntime

pytestmark = pytest.mark.slow

SPEED = Fraction(2)  # 11 beds at 2x: well inside one process's capacity on 2 cores
SECONDS = 72.0  # device time: the hypotension scenario's second NIBP comes at 65 s
BOUND_S = 1.0  # processing and look-ahead allowance beyond the stated delays

# scenario -> (kind, priority, latest device time by which it must be decided)
EXPECTED: dict[str, tuple[str, str, float]] = {
    "asystole": ("asystole", "high", 20.0 + 5.0 + BOUND_S),  # 4 s criterion + look-ahead
    "ventricular_fibrillation": ("vf", "high", 20.0 + 6.0 + BOUND_S),  # the 6 s VF target
    "ventricular_tachycardia": ("vt", "high", 20.0 + 3.0 + BOUND_S),  # 5 beats at 180/min
    "bradycardia": ("brady_extreme", "high", 37.0 + 8.0 + BOUND_S),  # HR < 40 from ~37 s
    "tachycardia": ("tachy_extreme", "high", 38.0 + 8.0 + BOUND_S),  # HR > 140 from ~38 s
    "desaturation": ("spo2_low", "medium", 36.0 + 15.0 + 1.0 + BOUND_S),  # 15 s SpO2 delay
    "apnea": ("apnea", "high", 20.0 + 20.0 + 4.0 + BOUND_S),  # 20 s after the last breath
    "hypotension": ("nibp_sys_low", "medium", 65.0 + 1.0 + BOUND_S),  # the 65 s measurement
    "pvc_rich": ("pvc_high", "low", SECONDS),  # > 10 PVCs in a minute (random timing)
    "leads_off": ("leads_off", "medium", 20.0 + 1.0 + BOUND_S),
    "probe_off": ("probe_off", "medium", 20.0 + 1.0 + BOUND_S),
}
NEVER: dict[str, set[str]] = {
    "leads_off": {"asystole", "vf", "vt", "pause"},  # arrhythmia analysis is suspended
    "probe_off": {"spo2_low", "spo2_desat"},
}


def test_every_scenario_raises_its_alarm_in_time_and_normal_rhythm_raises_none(tmp_path):
    rig = MonitorRig(speed=SPEED)
    names = [*EXPECTED, "normal"]
    beds = [rig.add(name, name, k + 1, tmp_path) for k, name in enumerate(names)]
    rig.start()
    config = config_in_folder(tmp_path, [(b.name, b.port) for b in beds])
    seen: dict[tuple[str, str], dict] = {}  # (bed, kind) -> the first alarm
    runtime = VigilRuntime(config).start()
    try:

        def collect() -> bool:
            for alarm in runtime.control_request({"op": "alarms"}, "test")["alarms"]:
                seen.setdefault((alarm["bed"], alarm["kind"]), alarm)
            return all(float(b.monitor.sent_until) >= SECONDS for b in beds)

        wait_for(collect, SECONDS / float(SPEED) + 30, f"{SECONDS:g} s of every scenario")
        collect()
    finally:
        runtime.stop()
        rig.close()

    problems = []
    for scenario, (kind, priority, latest) in EXPECTED.items():
        alarm = seen.get((scenario, kind))
        if alarm is None:
            problems.append(f"{scenario}: no {kind} alarm")
            continue
        decided = alarm["condition"]["decided_at_s"]
        if alarm["priority"] != priority:
            problems.append(f"{scenario}: {kind} is {alarm['priority']}, not {priority}")
        if not decided <= latest:
            problems.append(f"{scenario}: {kind} decided at {decided:.1f} s, after {latest:g} s")
        unwanted = NEVER.get(scenario, set()) & {k for b, k in seen if b == scenario}
        if unwanted:
            problems.append(f"{scenario}: raised {sorted(unwanted)}")
    normal = sorted(k for b, k in seen if b == "normal")
    if normal:
        problems.append(f"normal rhythm raised {normal}")
    assert problems == []
