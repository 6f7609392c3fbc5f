"""NEWS2: every band boundary of the RCP 2017 chart, both SpO2 scales, and the scorer's
conditions on a fixed grid."""

from __future__ import annotations

import json
import math

import pytest

from vigil.runtime.analysis.condition import Priority
from vigil.runtime.analysis.news2 import (
    News2Scorer,
    news2_score,
    score_air_or_oxygen,
    score_consciousness,
    score_pulse,
    score_resp_rate,
    score_spo2,
    score_systolic,
    score_temperature,
)
from vigil.runtime.analysis.settings import AnalysisSettings, News2Settings

# (value, points) on both sides of every boundary of CLINICAL.md's table
RESP = [(4, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (40, 3)]
SPO2_SCALE1 = [(80, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SPO2_SCALE2_AIR = [(83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (100, 0)]
SPO2_SCALE2_O2 = [
    (83, 3),
    (84, 2),
    (85, 2),
    (86, 1),
    (87, 1),
    (88, 0),
    (92, 0),
    (93, 1),
    (94, 1),
    (95, 2),
    (96, 2),
    (97, 3),
    (100, 3),
]
SYSTOLIC = [(70, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)]
PULSE = [
    (30, 3),
    (40, 3),
    (41, 1),
    (50, 1),
    (51, 0),
    (90, 0),
    (91, 1),
    (110, 1),
    (111, 2),
    (130, 2),
    (131, 3),
]
TEMP = [
    (34.0, 3),
    (35.0, 3),
    (35.1, 1),
    (36.0, 1),
    (36.1, 0),
    (38.0, 0),
    (38.1, 1),
    (39.0, 1),
    (39.1, 2),
    (41.0, 2),
]


@pytest.mark.parametrize(("rate", "points"), RESP)
def test_respiration_rate_bands(rate, points):
    assert score_resp_rate(rate) == points


@pytest.mark.parametrize(("spo2", "points"), SPO2_SCALE1)
def test_spo2_scale_1_bands_on_air_and_oxygen(spo2, points):
    assert score_spo2(spo2, 1, on_oxygen=False) == points
    assert score_spo2(spo2, 1, on_oxygen=True) == points


@pytest.mark.parametrize(("spo2", "points"), SPO2_SCALE2_AIR)
def test_spo2_scale_2_bands_on_air(spo2, points):
    assert score_spo2(spo2, 2, on_oxygen=False) == points


@pytest.mark.parametrize(("spo2", "points"), SPO2_SCALE2_O2)
def test_spo2_scale_2_bands_on_oxygen(spo2, points):
    assert score_spo2(spo2, 2, on_oxygen=True) == points


@pytest.mark.parametrize(("sys_mmhg", "points"), SYSTOLIC)
def test_systolic_pressure_bands(sys_mmhg, points):
    assert score_systolic(sys_mmhg) == points


@pytest.mark.parametrize(("pulse", "points"), PULSE)
def test_pulse_bands(pulse, points):
    assert score_pulse(pulse) == points


@pytest.mark.parametrize(("temp", "points"), TEMP)
def test_temperature_bands(temp, points):
    assert score_temperature(temp) == points


@pytest.mark.parametrize(
    ("level", "points"),
    [("alert", 0), ("confusion", 3), ("voice", 3), ("pain", 3), ("unresponsive", 3)],
)
def test_consciousness_alert_scores_0_anything_else_3(level, points):
    assert score_consciousness(level) == points


def test_oxygen_scores_2_air_0():
    assert (score_air_or_oxygen(True), score_air_or_oxygen(False)) == (2, 0)


@pytest.mark.parametrize(
    ("value", "points"),
    [(8.4, 3), (8.5, 1), (11.49, 1), (11.5, 0), (20.5, 2)],
)
def test_measurements_are_rounded_half_up_to_the_charts_resolution(value, points):
    assert score_resp_rate(value) == points


@pytest.mark.parametrize(("temp", "points"), [(35.04, 3), (35.05, 1), (38.04, 0), (38.05, 1)])
def test_temperature_is_rounded_to_a_tenth(temp, points):
    assert score_temperature(temp) == points


NORMAL_CHART = {"resp_rate": 14, "spo2": 98, "nibp_sys": 120, "pulse": 70, "temp": 36.8}


def test_aggregate_adds_every_parameter_and_lists_what_is_missing():
    cfg = News2Settings(on_oxygen=True, consciousness="voice")
    s = news2_score(0.0, dict(NORMAL_CHART, pulse=120), cfg)
    assert s.total == 2 + 2 + 3  # pulse 111-130, oxygen, not alert
    assert s.missing == ()
    partial = news2_score(0.0, {**NORMAL_CHART, "temp": math.nan}, News2Settings())
    assert partial.total == 0
    assert partial.missing == ("temp",)
    assert partial.to_evidence()["lower_bound"] is True
    unscored = news2_score(0.0, {"resp_rate": 30, "spo2": 85, "pulse": 130}, News2Settings())
    assert unscored.total is None  # two missing: not scored
    assert set(unscored.missing) == {"nibp_sys", "temp"}


# -- the scorer ---------------------------------------------------------------------------------
def sample(**chart: float) -> dict[str, float]:
    values = {
        "resp_rate": 14.0,
        "spo2": 98.0,
        "nibp_sys": 120.0,
        "pulse_rate": 70.0,
        "hr": 70.0,
        "temp": 36.8,
    }
    values.update(chart)
    return values


def feed(scorer: News2Scorer, t0: int, t1: int, **chart: float):
    out = []
    for t in range(t0, t1):
        out += scorer.update(float(t), sample(**chart))
    return out


def test_scores_every_period_on_a_fixed_grid_of_device_time():
    scorer = News2Scorer("bed1", AnalysisSettings(news2=News2Settings(period_s=60.0)))
    times = []
    for t in [3.5, *[x + 0.5 for x in range(4, 200)]]:
        scorer.update(t, sample())
        if scorer.last_score is not None and (not times or times[-1] != scorer.last_score.t_s):
            times.append(scorer.last_score.t_s)
    assert times == [60.0, 120.0, 180.0]


def test_medium_at_five_or_a_single_three_high_at_seven_and_high_replaces_medium():
    scorer = News2Scorer("bed1", AnalysisSettings())
    out = feed(scorer, 0, 60)  # normal: 0
    out += feed(scorer, 60, 120, resp_rate=26.0)  # a single 3 -> medium at 120
    out += feed(scorer, 120, 180, resp_rate=22.0, pulse_rate=115.0, spo2=95.0)  # 2+2+1=5
    out += feed(scorer, 180, 240, resp_rate=26.0, pulse_rate=115.0, spo2=93.0)  # 3+2+2=7
    out += feed(scorer, 240, 300, resp_rate=22.0, pulse_rate=115.0, spo2=95.0)  # back to 5
    out += feed(scorer, 300, 361)  # normal again
    events = [(c.kind, c.onset_s, c.end_s) for c in out]
    assert events == [
        ("news2_medium", 120.0, None),
        ("news2_medium", 120.0, 240.0),
        ("news2_high", 240.0, None),
        ("news2_high", 240.0, 300.0),
        ("news2_medium", 300.0, None),
        ("news2_medium", 300.0, 360.0),
    ]
    assert out[0].value == 3.0
    assert out[0].evidence["sub_scores"]["resp_rate"] == 3
    assert all(json.loads(json.dumps(c.evidence)) == c.evidence for c in out)
    assert out[2].priority == Priority.HIGH
    assert out[4].priority == Priority.MEDIUM


def test_one_artefactual_second_does_not_change_the_score():
    scorer = News2Scorer("bed1", AnalysisSettings())
    feed(scorer, 0, 59)
    scorer.update(59.0, sample(spo2=70.0, pulse_rate=180.0))  # the last second before 60
    out = feed(scorer, 60, 61)
    assert out == []
    assert scorer.last_score.total == 0


def test_pulse_falls_back_to_heart_rate_when_the_pulse_rate_is_missing():
    scorer = News2Scorer("bed1", AnalysisSettings())
    feed(scorer, 0, 61, pulse_rate=math.nan, hr=135.0)
    assert scorer.last_score.sub_scores["pulse"] == 3
    assert scorer.last_score.pulse_source == "hr"


def test_two_missing_parameters_are_not_scored_and_end_an_active_condition():
    scorer = News2Scorer("bed1", AnalysisSettings())
    out = feed(scorer, 0, 60, resp_rate=30.0)
    out += scorer.update(60.0, sample(resp_rate=30.0, spo2=math.nan, nibp_sys=math.nan))
    assert [c.kind for c in out] == ["news2_medium"]
    out = feed(scorer, 61, 121, resp_rate=30.0, spo2=math.nan, nibp_sys=math.nan)
    assert scorer.last_score.total is None
    (end,) = out
    assert end.end_s == 120.0
    assert end.evidence["end"]["ended_by"] == "not_scored"
    assert set(end.evidence["end"]["missing"]) == {"spo2", "nibp_sys"}


def test_one_missing_parameter_still_scores_a_lower_bound_and_says_so():
    scorer = News2Scorer("bed1", AnalysisSettings())
    out = feed(scorer, 0, 61, temp=math.nan, resp_rate=26.0, pulse_rate=120.0)
    assert [c.kind for c in out] == ["news2_medium"]
    assert out[0].evidence["missing"] == ["temp"]
    assert out[0].evidence["lower_bound"] is True


def test_scale_2_and_oxygen_come_from_the_beds_settings():
    cfg = News2Settings(scale=2, on_oxygen=True, consciousness="alert")
    scorer = News2Scorer("bed1", AnalysisSettings(news2=cfg))
    out = feed(scorer, 0, 61, spo2=97.0)
    assert scorer.last_score.sub_scores["spo2"] == 3
    assert scorer.last_score.total == 5
    assert [c.kind for c in out] == ["news2_medium"]


def test_bad_news2_settings_are_refused():
    with pytest.raises(ValueError, match="scale"):
        News2Scorer("b", AnalysisSettings(news2=News2Settings(scale=3)))
    with pytest.raises(ValueError, match="consciousness"):
        News2Scorer("b", AnalysisSettings(news2=News2Settings(consciousness="asleep")))
