"""Scenarios: the built-in set, the TOML format and its strict validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.errors import ConfigError
from vigil.models.synthetic import (
    DEFAULT_RANGES,
    Event,
    ParameterRanges,
    PatientSimulator,
    PhysioState,
    Scenario,
    builtin_scenarios,
    draw_patient,
    generate_recording,
    load_scenario,
    scenario_from_toml,
)

BUILTIN_NAMES = {
    "normal",
    "bradycardia",
    "tachycardia",
    "asystole",
    "ventricular_tachycardia",
    "ventricular_fibrillation",
    "pvc_rich",
    "desaturation",
    "apnea",
    "hypotension",
    "leads_off",
    "probe_off",
    "tour",  # `vigil demo`'s scripted shift
}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"


def test_builtin_scenarios_are_exactly_the_documented_thirteen() -> None:
    scenarios = builtin_scenarios()
    assert set(scenarios) == BUILTIN_NAMES
    text = DOCS.read_text(encoding="utf-8")
    for name in BUILTIN_NAMES:
        assert f"`{name}`" in text


def test_every_builtin_starts_with_20_s_of_normal_sinus_rhythm() -> None:
    for name, sc in builtin_scenarios().items():
        assert sc.initial.rhythm == "sinus"
        assert all(ev.at >= 20.0 for ev in sc.events), name
        block = generate_recording(sc, 3, 20)
        assert {b.label for b in block.beats} == {"N"}, name
        assert not any(s.leads_off[1] or s.probe_off for s in block.status), name


def test_final_state_persists_for_unbounded_streaming() -> None:
    sim = PatientSimulator("ventricular_tachycardia", 1)
    block = sim.render(600, 610)  # ten minutes in: still VT
    assert {b.label for b in block.beats} == {"V"}
    assert len(block.beats) >= 25


def test_load_scenario_reads_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "demo"\nnibp_interval_s = 120\n[initial]\nrate = 64\n'
        '[[event]]\nat = 30.0\nrhythm = "vt"\nrate = 170\n'
        "[[event]]\nat = 40\nspo2 = 85\nramp_s = 30\nleads_off = [false, true, false]\n"
    )
    sc = load_scenario(path)
    assert sc.name == "mine"
    assert sc.nibp_interval_s == 120.0
    assert sc.initial.rate == 64.0
    assert sc.events[0] == Event(at=30.0, changes=(("rhythm", "vt"), ("rate", 170.0)))
    assert sc.events[1].ramp_s == 30.0
    assert dict(sc.events[1].changes)["leads_off"] == (False, True, False)
    assert load_scenario(str(path)) == sc


def _error(tmp_path: Path, body: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    return message


@pytest.mark.parametrize(
    ("event", "key"),
    [
        ("rhythm = 'vt'\nrate = 180\nfoo = 1", "foo"),  # unknown key
        ("rate = 'fast'", "rate"),  # wrong type
        ("rate = 400", "rate"),  # out of range
        ("apnea = 1", "apnea"),  # a number is not a boolean
        ("rhythm = 'afib'", "rhythm"),  # not a known rhythm
        ("leads_off = [true, false]", "leads_off"),  # needs three leads
        ("mains_hz = 55", "mains_hz"),
        ("spo2 = 80\nramp_s = -1", "ramp_s"),
        ("nibp_dia = 130", "nibp_dia"),  # diastolic above systolic
        ("rate = true", "rate"),  # a boolean is not a number
    ],
)
def test_scenario_file_errors_name_file_event_and_key(tmp_path: Path, event: str, key: str) -> None:
    body = f"[[event]]\nat = 5.0\nrate = 80\n[[event]]\nat = 20.0\n{event}\n"
    message = _error(tmp_path, body)
    assert "event 1" in message
    assert f"'{key}'" in message


def test_scenario_file_structure_errors_are_reported(tmp_path: Path) -> None:
    assert "'colour'" in _error(tmp_path, 'colour = "red"\n')
    assert "[initial]" in _error(tmp_path, "[initial]\nspo2 = 101\n")
    assert "'at'" in _error(tmp_path, "[[event]]\nrate = 80\n")
    assert "time order" in _error(
        tmp_path, "[[event]]\nat = 9\nrate = 80\n[[event]]\nat = 3\nrate = 70\n"
    )
    assert "changes nothing" in _error(tmp_path, "[[event]]\nat = 9\n")
    assert "not valid TOML" in _error(tmp_path, "[[event]\nat = ")
    assert "'nibp_interval_s'" in _error(tmp_path, "nibp_interval_s = 5\n")


def test_unknown_scenario_name_lists_the_builtins() -> None:
    with pytest.raises(ConfigError, match="ventricular_tachycardia"):
        load_scenario("no_such_scenario")


def test_scenarios_built_in_python_are_validated_too() -> None:
    with pytest.raises(ConfigError, match="'spo2'"):
        Scenario("x", "", PhysioState(spo2=120.0))
    with pytest.raises(ConfigError, match="event 0"):
        Scenario("x", "", PhysioState(), (Event(at=1.0, changes=(("rate", 1000.0),)),))


def test_scenario_from_toml_never_executes_content() -> None:
    with pytest.raises(ConfigError):
        scenario_from_toml(
            "name = \"__import__('os').system('echo hi')\"\n[initial]\nrate = \"1+1\"\n"
        )


def test_parameter_ranges_are_explicit_and_separate_training_from_evaluation() -> None:
    evaluation = ParameterRanges(r_amp_mv=(1.6, 2.0), qrs_axis_deg=(-10.0, 10.0))
    rng = np.random.default_rng(0)
    p = draw_patient(rng, evaluation)
    assert 1.6 <= p.r_amp_mv <= 2.0
    assert -10 <= p.qrs_axis_deg <= 10
    train = PatientSimulator("normal", 1, ranges=DEFAULT_RANGES).patient
    test = PatientSimulator("normal", 1, ranges=evaluation).patient
    assert DEFAULT_RANGES.r_amp_mv[0] <= train.r_amp_mv <= DEFAULT_RANGES.r_amp_mv[1]
    assert test.r_amp_mv >= 1.6
    with pytest.raises(ValueError, match="r_amp_mv"):
        ParameterRanges(r_amp_mv=(2.0, 1.0))


def test_simulator_rejects_bad_seeds_and_rates() -> None:
    with pytest.raises(ConfigError, match="seed"):
        PatientSimulator("normal", -1)
    with pytest.raises(ConfigError, match="ecg_rate"):
        PatientSimulator("normal", 1, ecg_rate=50)
    with pytest.raises(ConfigError, match="pleth_rate"):
        PatientSimulator("normal", 1, pleth_rate=0.5)  # type: ignore[arg-type]
