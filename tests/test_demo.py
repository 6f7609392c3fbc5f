"""`vigil demo`: the README's first command, as a new user runs it (headless here)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from vigil.models.synthetic import load_scenario
from vigil.runtime.service.demo import CABLE_PULL_S, TOUR, TRUE_ONSETS

VIGIL = [sys.executable, "-m", "vigil.cli"]


def _first_event(changes: dict[str, object]) -> float:
    """The time of the tour's first event that sets every key to its value."""
    for event in load_scenario(TOUR).events:
        values = dict(event.changes)
        if all(values.get(k) == v for k, v in changes.items()):
            return event.at
    raise AssertionError(f"the tour has no event {changes}")


def test_the_summary_true_onsets_are_the_tour_scenario_s_own_times():
    vt = _first_event({"rhythm": "vt"})
    asystole = _first_event({"rhythm": "asystole"})
    assert TRUE_ONSETS["vt"] == vt
    assert TRUE_ONSETS["tachy_extreme"] == vt
    assert TRUE_ONSETS["asystole"] == asystole
    assert TRUE_ONSETS["pause"] == asystole
    assert TRUE_ONSETS["leads_off"] == _first_event({"leads_off": (True, True, True)})
    assert TRUE_ONSETS["link_lost"] == CABLE_PULL_S
    ramp = next(e for e in load_scenario(TOUR).events if dict(e.changes).get("spo2") == 84.0)
    start = load_scenario(TOUR).initial.spo2
    crossing = ramp.at + ramp.ramp_s * (start - 90.0) / (start - 84.0)
    assert TRUE_ONSETS["spo2_low"] == pytest.approx(crossing, abs=0.05)


@pytest.mark.slow
def test_the_demo_raises_the_tour_s_alarms_live_and_ends_with_a_summary_and_plot(tmp_path):
    """With --imaging, the cart's phantom cine raises its advisory through the same manager."""
    out = subprocess.run(
        [
            *VIGIL,
            "demo",
            "--headless",
            "--imaging",
            "--speed",
            "6",
            "--out",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {}
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+bed-1\s+(\w+)\s+(high|medium|low)\s+(\S+ s|-)\s+(\S+ s|-)", line)
        if m:
            rows.setdefault(m.group(2), m.group(3))
    assert rows.get("vt") == "high"
    assert rows.get("asystole") == "high"
    assert rows.get("spo2_low") == "medium"
    assert rows.get("leads_off") == "medium"
    assert rows.get("link_lost") == "high"
    assert "vf" not in rows
    assert (tmp_path / "demo" / "journal.db").exists()
    assert (tmp_path / "demo" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Not a certified medical device" in out.stderr
    assert re.search(r"\d+\s+cart-1\s+us_anechoic_region\s+low", out.stdout), out.stdout
    assert "imaging cart (phantom cine" in out.stdout
    assert (tmp_path / "demo" / "ultrasound.avi").stat().st_size > 0
