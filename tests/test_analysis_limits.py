"""Alarm limits on numerics: delays, hysteresis, desaturation, invalid values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vigil.models.synthetic import generate_recording
from vigil.runtime.analysis.condition import Priority
from vigil.runtime.analysis.limits import INVALID_S, LimitDetector
from vigil.runtime.analysis.settings import DEFAULT_LIMITS, AnalysisSettings, Limit

NORMAL = {
    "hr": 72.0,
    "spo2": 98.0,
    "pulse_rate": 72.0,
    "nibp_sys": 120.0,
    "nibp_dia": 78.0,
    "nibp_mean": 92.0,
    "resp_rate": 14.0,
    "temp": 36.8,
}


def run(series: dict[str, list[float]], settings: AnalysisSettings | None = None, t0: int = 0):
    """Feed 1 Hz samples (NORMAL values unless given) and collect the conditions."""
    det = LimitDetector("bed1", settings or AnalysisSettings())
    n = max(len(v) for v in series.values())
    out = []
    for i in range(n):
        values = dict(NORMAL)
        for k, v in series.items():
            values[k] = v[i] if i < len(v) else values[k]
        out += det.update(float(t0 + i), values)
    return out


def starts(conds, kind=None):
    return [c for c in conds if c.end_s is None and (kind is None or c.kind == kind)]


def ends(conds, kind=None):
    return [c for c in conds if c.end_s is not None and (kind is None or c.kind == kind)]


def test_spo2_below_limit_for_less_than_the_15s_delay_raises_nothing():
    assert run({"spo2": [98.0] * 5 + [88.0] * 15 + [95.0] * 10}) == []


def test_spo2_below_limit_for_the_delay_starts_when_the_delay_is_satisfied():
    conds = run({"spo2": [98.0] * 5 + [88.0] * 16 + [95.0] * 5})
    (start,) = starts(conds)
    assert start.kind == "spo2_low"
    assert start.key == "spo2"
    assert start.priority == Priority.MEDIUM
    assert start.onset_s == 20.0  # first crossing at 5 s + 15 s delay
    assert start.value == 88.0
    ev = start.evidence
    assert (ev["first_crossing_s"], ev["limit"], ev["delay_s"]) == (5.0, 90.0, 15.0)
    (end,) = ends(conds)
    assert end.end_s == 21.0


def test_a_value_equal_to_the_limit_is_not_beyond_it():
    assert run({"spo2": [90.0] * 30, "hr": [50.0] * 30, "temp": [39.0] * 30}) == []


def test_hysteresis_keeps_the_condition_until_the_value_is_clear_of_the_limit():
    hr = [72.0] * 3 + [45.0] * 3 + [50.0, 51.0, 51.9, 52.0, 60.0]
    conds = run({"hr": hr})
    assert [c.kind for c in starts(conds)] == ["hr_low"]
    assert starts(conds)[0].onset_s == 3.0  # no delay by default for HR
    assert [c.end_s for c in ends(conds)] == [9.0]  # at 52 = low 50 + hysteresis 2


def test_high_limits_use_their_own_kinds_for_hr_pulse_bp_resp_temp():
    conds = run(
        {
            "hr": [130.0] * 3,
            "pulse_rate": [131.0] * 3,
            "nibp_sys": [170.0] * 3,
            "nibp_dia": [95.0] * 3,
            "nibp_mean": [115.0] * 3,
            "resp_rate": [35.0] * 3,
            "temp": [39.5] * 3,
        }
    )
    kinds = {c.kind: c for c in starts(conds)}
    assert set(kinds) == {
        "hr_high",
        "pulse_high",
        "nibp_sys_high",
        "nibp_dia_high",
        "nibp_mean_high",
        "resp_high",
        "temp_high",
    }
    assert kinds["temp_high"].priority == Priority.LOW
    assert kinds["pulse_high"].key == "pulse_rate"


def test_desaturation_is_high_priority_at_once_and_spo2_low_follows_after_its_delay():
    conds = run({"spo2": [98.0] * 2 + [80.0] * 20 + [82.0] * 3 + [91.0] * 2})
    desat = starts(conds, "spo2_desat")
    assert len(desat) == 1
    assert desat[0].onset_s == 2.0
    assert desat[0].priority == Priority.HIGH
    assert desat[0].evidence["delay_s"] == 0.0
    assert starts(conds, "spo2_low")[0].onset_s == 17.0
    assert ends(conds, "spo2_desat")[0].end_s == 22.0  # 82 > 80 + hysteresis 1
    assert ends(conds, "spo2_low")[0].end_s == 25.0  # 91 >= 90 + 1


def test_nan_is_never_compared_and_ends_an_active_condition_as_invalid():
    nan = math.nan
    conds = run({"hr": [40.0] * 3 + [nan] * 3 + [40.0] * 2})
    assert [c.onset_s for c in starts(conds, "hr_low")] == [0.0, 6.0]
    (end,) = ends(conds, "hr_low")
    assert end.end_s == 3.0
    assert end.evidence["ended_by"] == "invalid"
    assert run({"hr": [nan] * 3, "spo2": [float("-inf")] * 3}) == []


def test_numeric_invalid_starts_after_a_few_seconds_of_nan_and_ends_when_valid_again():
    nan = math.nan
    spo2 = [98.0] * 3 + [nan] * 10 + [97.0]
    conds = run({"spo2": spo2})
    (start,) = starts(conds, "numeric_invalid")
    assert start.key == "spo2"
    assert start.onset_s == 3.0 + INVALID_S
    assert start.evidence["invalid_since_s"] == 3.0
    assert start.priority == Priority.LOW
    assert ends(conds, "numeric_invalid")[0].end_s == 13.0
    short = run({"spo2": [98.0] + [nan] * int(INVALID_S) + [98.0]})
    assert short == []  # a dropout shorter than INVALID_S is not announced


def test_a_parameter_never_measured_is_not_reported_invalid():
    nan = math.nan
    conds = run({"nibp_sys": [nan] * 30, "temp": [nan] * 30})
    assert conds == []
    assert run({"hr": [nan] * 30}, t0=100) == []


def test_a_gap_in_the_samples_restarts_the_delay():
    det = LimitDetector("bed1", AnalysisSettings())
    low = dict(NORMAL, spo2=85.0)
    out = []
    for t in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 31]:
        out += det.update(float(t), low)
    assert starts(out, "spo2_low") == []  # 15 s beyond, but 19 of them unseen


def test_settings_change_limits_delay_and_which_parameters_are_watched():
    settings = AnalysisSettings(limits={"spo2": Limit(94.0, None, 1.0, delay_s=0.0)})
    conds = run({"spo2": [93.0], "hr": [20.0]}, settings)
    assert [(c.kind, c.onset_s) for c in conds] == [("spo2_low", 0.0)]


def test_time_must_increase_and_bad_limits_are_refused():
    det = LimitDetector("bed1", AnalysisSettings())
    det.update(1.0, NORMAL)
    with pytest.raises(ValueError, match="does not follow"):
        det.update(1.0, NORMAL)
    with pytest.raises(ValueError, match="below high"):
        LimitDetector("b", AnalysisSettings(limits={"hr": Limit(120.0, 50.0, 2.0)}))
    with pytest.raises(ValueError, match="no alarm limit kind"):
        LimitDetector("b", AnalysisSettings(limits={"etco2": Limit(30.0, 50.0, 1.0)}))


def test_default_limits_are_those_of_clinical_md():
    assert DEFAULT_LIMITS["spo2"].delay_s == 15.0
    assert (DEFAULT_LIMITS["hr"].low, DEFAULT_LIMITS["hr"].high) == (50.0, 120.0)


def synthetic_numerics(scenario: str, seconds: int, seed: int = 1):
    block = generate_recording(scenario, seed, seconds)
    for n in block.numerics:
        values = n.values()
        values["temp"] = values.pop("temp_c")  # the protocol's field name
        yield n.t_s, values


def run_scenario(scenario: str, seconds: int):
    det = LimitDetector("bed1", AnalysisSettings())
    conds = [c for t, v in synthetic_numerics(scenario, seconds) for c in det.update(t, v)]
    for c in conds:
        json.dumps(c.evidence)  # evidence is JSON-compatible
    return conds


def test_desaturation_scenario_raises_spo2_low_after_its_delay_then_desat():
    conds = run_scenario("desaturation", 70)
    low = starts(conds, "spo2_low")
    desat = starts(conds, "spo2_desat")
    assert len(low) == 1
    assert len(desat) == 1
    # SpO2 crosses 90 % at ~36 s and 80 % at ~56 s (scenario description), +-1 % noise
    assert low[0].evidence["first_crossing_s"] == pytest.approx(36, abs=3)
    assert low[0].onset_s == low[0].evidence["first_crossing_s"] + 15.0
    assert desat[0].onset_s == pytest.approx(56, abs=4)


def test_probe_off_scenario_ends_nothing_silently_and_announces_invalid_numerics():
    conds = run_scenario("probe_off", 40)
    invalid = {c.key: c.onset_s for c in starts(conds, "numeric_invalid")}
    assert invalid == {"spo2": 20.0 + INVALID_S, "pulse_rate": 20.0 + INVALID_S}
    assert [c for c in conds if c.category.value == "physiological"] == []


def test_normal_scenario_raises_no_limit_condition():
    conds = run_scenario("normal", 120)
    assert conds == [], [(c.kind, c.onset_s) for c in conds]


def test_numpy_scalars_are_valid_values():
    det = LimitDetector("bed1", AnalysisSettings())
    out = det.update(0.0, dict(NORMAL, hr=np.float32(30.0)))
    assert [c.kind for c in out] == ["hr_low"]
