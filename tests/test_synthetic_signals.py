"""Pleth, respiration, noise, sensor-off states and the 1 Hz numerics."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache

import numpy as np
from scipy.signal import welch

from vigil.models.synthetic import (
    PatientSimulator,
    SignalBlock,
    generate_recording,
    load_scenario,
    scenario_from_toml,
)

FS_ECG, FS_PLETH, FS_RESP = 500, 125, 62.5


@cache
def recording(name: str, seconds: int = 60, seed: int = 21) -> SignalBlock:
    return generate_recording(name, seed, seconds)


def at(block: SignalBlock, t_s: float):
    return next(n for n in block.numerics if n.t_s == t_s)


def status_at(block: SignalBlock, t_s: float):
    return next(s for s in block.status if s.t_s == t_s)


# -- pleth -------------------------------------------------------------------------------
def test_each_beat_gives_one_pleth_pulse_150_to_350_ms_after_the_r_peak() -> None:
    block = recording("normal")
    upstroke = np.gradient(block.pleth.astype(np.float64))
    lags = []
    for b in block.beats[2:-2]:
        i = round(b.t_s * FS_PLETH)
        window = upstroke[i : i + int(0.5 * FS_PLETH)]
        lags.append(np.argmax(window) / FS_PLETH)
    lags = np.array(lags)
    assert np.all((lags > 0.15) & (lags < 0.35))
    assert block.pleth.min() >= 0.0
    assert block.pleth.max() < 1.2


def test_pleth_pulse_has_a_dicrotic_notch() -> None:
    sc = load_scenario("normal")
    sc = replace(sc, initial=replace(sc.initial, pleth_noise=0.0))
    block = generate_recording(sc, 4, 20)
    pleth = block.pleth.astype(np.float64)
    b = block.beats[5]
    seg = pleth[round(b.t_s * FS_PLETH) : round((b.t_s + b.rr_s * 0.95) * FS_PLETH)]
    d = np.diff(seg)
    peaks = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0))
    assert len(peaks) >= 2  # systolic peak, then the diastolic wave after the notch


def test_pulse_after_a_premature_beat_is_smaller() -> None:
    block = recording("pvc_rich", seconds=120)
    pleth = block.pleth.astype(np.float64)

    def pulse_height(b) -> float:
        i = round(b.t_s * FS_PLETH)
        return float(np.ptp(pleth[i + int(0.15 * FS_PLETH) : i + int(0.45 * FS_PLETH)]))

    normal = np.median([pulse_height(b) for b in block.beats[:-1] if b.label == "N"])
    pvc = [pulse_height(b) for b in block.beats[:-1] if b.label == "V"]
    assert pvc
    assert max(pvc) < 0.8 * normal


def test_pleth_pulses_vanish_in_vf_and_asystole() -> None:
    for name in ("ventricular_fibrillation", "asystole"):
        block = recording(name)
        before = block.pleth[10 * FS_PLETH : 20 * FS_PLETH]
        after = block.pleth[22 * FS_PLETH :]
        assert np.ptp(after) < 0.1 * np.ptp(before), name
        assert at(block, 59.0).pulse_rate == 0.0
        assert math.isnan(at(block, 59.0).spo2)  # no pulsatile signal to measure


def test_probe_off_flattens_pleth_sets_flag_and_invalidates_spo2_and_pulse_rate() -> None:
    block = recording("probe_off")
    assert np.all(block.pleth[20 * FS_PLETH :] == 0.0)
    assert np.ptp(block.pleth[: 20 * FS_PLETH]) > 0.3
    assert not status_at(block, 19.0).probe_off
    assert status_at(block, 20.0).probe_off
    assert not math.isnan(at(block, 19.0).spo2)
    for n in block.numerics[20:]:
        assert math.isnan(n.spo2)
        assert math.isnan(n.pulse_rate)
        assert not n.is_valid("spo2")
        assert not math.isnan(n.hr)
    assert any(e.kind == "probe_off" and e.start_s == 20.0 for e in block.episodes)


# -- respiration --------------------------------------------------------------------------
def test_breaths_follow_the_respiration_rate_with_about_one_ohm_swings() -> None:
    block = recording("normal")
    onsets = np.array(block.breaths)
    rate = 60 / np.diff(onsets).mean()
    assert 12 <= rate <= 16  # scenario: 14 /min
    assert 0.3 < np.ptp(block.resp) < 1.5


def test_apnea_has_no_breaths_a_flat_trace_and_resp_rate_zero_once_it_persists() -> None:
    block = recording("apnea")
    assert [t for t in block.breaths if t >= 20] == []
    late = block.resp[int(30 * FS_RESP) :]
    assert np.ptp(late) < 0.2  # cardiogenic ripple and noise only
    assert np.ptp(block.resp[: int(20 * FS_RESP)]) > 0.4
    assert 11 <= at(block, 18.0).resp_rate <= 17
    assert all(n.resp_rate == 0.0 for n in block.numerics if n.t_s >= 41)
    assert any(e.kind == "apnea" and e.start_s == 20.0 for e in block.episodes)


# -- ECG noise and leads off ------------------------------------------------------------
def test_leads_off_gives_flat_zero_leads_status_flags_and_invalid_hr() -> None:
    block = recording("leads_off")
    assert np.all(block.ecg[0:2, 20 * FS_ECG :] == 0.0)
    assert np.ptp(block.ecg[2, 20 * FS_ECG :]) > 0.2  # lead III (LL-LA) still connected
    assert status_at(block, 20.0).leads_off == (True, True, False)
    assert status_at(block, 19.0).leads_off == (False, False, False)
    assert all(math.isnan(n.hr) for n in block.numerics if n.t_s >= 20)
    assert all(math.isnan(n.resp_rate) for n in block.numerics if n.t_s >= 20)
    assert all(not math.isnan(n.hr) for n in block.numerics if 5 <= n.t_s < 20)
    assert len(block.beats) > 60  # the heart keeps beating: truth is independent of leads


def _noise_only(**noise: float) -> SignalBlock:
    keys = {"baseline_mv": 0.0, "emg_mv": 0.0, "mains_mv": 0.0, **noise}
    table = "\n".join(f"{k} = {v}" for k, v in keys.items())
    sc = scenario_from_toml(f'name = "n"\n[initial]\nrhythm = "asystole"\n{table}\n')
    return generate_recording(sc, 8, 40)


def test_emg_noise_has_the_stated_rms_per_lead_and_high_frequency_content() -> None:
    block = _noise_only(emg_mv=0.05)
    lead = block.ecg[1].astype(np.float64)
    assert 0.04 < lead.std() < 0.06
    f, pxx = welch(lead, fs=FS_ECG, nperseg=1024)
    assert pxx[(f > 20) & (f < 150)].sum() > 0.9 * pxx.sum()


def test_mains_interference_is_at_the_configured_frequency() -> None:
    block = _noise_only(mains_mv=0.1, mains_hz=60)
    f, pxx = welch(block.ecg[1].astype(np.float64), fs=FS_ECG, nperseg=2000)
    assert f[np.argmax(pxx)] == 60.0


def test_baseline_wander_lies_between_0_05_and_0_5_hz() -> None:
    block = _noise_only(baseline_mv=0.3)
    lead = block.ecg[0].astype(np.float64)
    f, pxx = welch(lead, fs=FS_ECG, nperseg=40 * FS_ECG)
    assert pxx[(f >= 0.04) & (f <= 0.55)].sum() > 0.9 * pxx.sum()
    assert 0.15 < lead.std() < 0.45


def test_electrode_motion_comes_in_low_frequency_bursts() -> None:
    block = _noise_only(motion_mv=1.0, motion_per_min=10)
    lead = block.ecg[1].astype(np.float64)
    per_second = np.array([np.ptp(lead[k : k + FS_ECG]) for k in range(0, len(lead), FS_ECG)])
    assert per_second.max() > 0.5
    assert np.sum(per_second < 0.01) >= 5  # quiet between bursts


# -- numerics --------------------------------------------------------------------------
def test_numerics_hr_matches_the_true_beat_rate() -> None:
    for name in ("normal", "tachycardia", "ventricular_tachycardia", "bradycardia"):
        block = recording(name)
        for n in block.numerics[10:]:
            window = [b for b in block.beats if n.t_s - 8 <= b.t_s < n.t_s]
            truth = 60 / np.nanmean([b.rr_s for b in window])
            assert abs(n.hr - truth) <= 1.0, (name, n.t_s)
            if not 20 <= n.t_s < 30:  # pulses lag beats by ~0.3 s: skip the onset
                assert abs(n.pulse_rate - n.hr) <= 0.1 * n.hr + 2, (name, n.t_s)


def test_hr_is_zero_after_four_seconds_of_asystole_or_vf() -> None:
    for name in ("asystole", "ventricular_fibrillation"):
        block = recording(name)
        assert at(block, 19.0).hr > 40
        assert all(n.hr == 0.0 for n in block.numerics if n.t_s >= 25)


def test_spo2_follows_the_desaturation_trend() -> None:
    block = recording("desaturation", seconds=80)
    assert 96 <= at(block, 15.0).spo2 <= 100
    assert 86 <= at(block, 40.0).spo2 <= 90  # ramp 98 -> 78 over 20-60 s: 88 at 40 s
    assert 76 <= at(block, 70.0).spo2 <= 80
    desat = [e for e in block.episodes if e.kind == "desaturation"]
    assert len(desat) == 1
    assert desat[0].start_s == 36.0
    assert desat[0].end_s is None


def test_nibp_is_measured_at_5_s_then_every_interval_after_30_s_of_inflation() -> None:
    block = recording("hypotension", seconds=130)
    assert math.isnan(at(block, 4.0).nibp_sys)
    assert status_at(block, 4.0).nibp_in_progress
    first = at(block, 5.0)
    assert 110 <= first.nibp_sys <= 126
    assert first.nibp_dia < first.nibp_sys
    assert first.nibp_mean == round(first.nibp_dia + (first.nibp_sys - first.nibp_dia) / 3)
    assert not status_at(block, 5.0).nibp_in_progress
    assert not status_at(block, 34.0).nibp_in_progress
    assert all(status_at(block, float(s)).nibp_in_progress for s in range(35, 65))
    assert at(block, 64.0).nibp_sys == first.nibp_sys  # held until the next measurement
    assert at(block, 65.0).nibp_sys < 95  # scenario: ~86 mmHg at 65 s
    assert at(block, 125.0).nibp_sys < 85
    assert any(e.kind == "hypotension" for e in block.episodes)


def test_nibp_measurement_fails_without_a_pulse() -> None:
    sc = scenario_from_toml(
        'name = "x"\nnibp_interval_s = 30\n[[event]]\nat = 10.0\nrhythm = "asystole"\n'
    )
    block = generate_recording(sc, 2, 40)
    assert not math.isnan(at(block, 5.0).nibp_sys)
    assert math.isnan(at(block, 35.0).nibp_sys)


def test_temperature_and_battery_follow_their_trends() -> None:
    sc = scenario_from_toml(
        'name = "x"\n[initial]\ntemp_c = 37.0\nbattery_pct = 80\n'
        "[[event]]\nat = 10.0\ntemp_c = 39.0\nbattery_pct = 60\nramp_s = 20.0\n"
    )
    block = generate_recording(sc, 2, 40)
    assert abs(at(block, 5.0).temp_c - 37.0) < 0.2
    assert abs(at(block, 35.0).temp_c - 39.0) < 0.2
    assert status_at(block, 5.0).battery_pct == 80
    assert status_at(block, 35.0).battery_pct == 60


def test_device_fault_invalidates_every_numeric() -> None:
    sc = scenario_from_toml('name = "x"\n[[event]]\nat = 10.0\ndevice_fault = true\n')
    block = generate_recording(sc, 2, 15)
    assert status_at(block, 12.0).device_fault
    assert all(math.isnan(v) for v in at(block, 12.0).values().values())
    assert not any(math.isnan(v) for v in at(block, 8.0).values().values())


def test_one_numerics_and_status_sample_per_whole_second() -> None:
    sim = PatientSimulator("normal", 1)
    block = sim.render(0, 10)
    assert [n.t_s for n in block.numerics] == [float(s) for s in range(10)]
    assert [s.t_s for s in block.status] == [float(s) for s in range(10)]
