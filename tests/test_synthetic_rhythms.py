"""ECG rhythms: rates and labels match the scenario, and the waveform shows them."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
from scipy.signal import butter, sosfiltfilt, welch

from vigil.models.synthetic import SignalBlock, generate_recording, load_scenario

FS = 500


@cache
def recording(name: str, seconds: int = 60, seed: int = 7, quiet: bool = False) -> SignalBlock:
    scenario = load_scenario(name)
    if quiet:  # no noise: measure morphology exactly
        scenario = replace(
            scenario, initial=replace(scenario.initial, baseline_mv=0.0, emg_mv=0.0, mains_mv=0.0)
        )
    return generate_recording(scenario, seed, seconds)


def beats_between(block: SignalBlock, a: float, b: float) -> list:
    return [x for x in block.beats if a <= x.t_s < b]


def rate_of(beats: list) -> float:
    return 60.0 / float(np.nanmedian([b.rr_s for b in beats]))


def slope(x: np.ndarray) -> np.ndarray:
    return np.gradient(x) * FS  # mV/s


def qrs_width_s(lead: np.ndarray, index: int) -> float:
    """Span around the R peak where |slope| exceeds 25 % of its local maximum."""
    lo = index - int(0.15 * FS)
    s = np.abs(slope(lead[lo : index + int(0.15 * FS)]))
    above = np.flatnonzero(s > 0.25 * s.max())
    return (above[-1] - above[0]) / FS


def detect_qrs(ecg: np.ndarray) -> np.ndarray:
    """A plain detector on the heart vector's speed |dH/dt| (lead independent): onsets above
    25 % of its 99.5th percentile, at least 200 ms apart."""
    hx = ecg[0].astype(np.float64)
    hy = (2 * ecg[1].astype(np.float64) - hx) / np.sqrt(3)
    speed = np.hypot(slope(hx), slope(hy))
    threshold = 0.25 * np.percentile(speed, 99.5)
    onsets: list[int] = []
    for i in np.flatnonzero(speed > threshold):
        if not onsets or i - onsets[-1] > 0.2 * FS:
            onsets.append(int(i))
    return np.asarray(onsets)


def test_normal_scenario_is_sinus_rhythm_near_72_per_minute_with_variability() -> None:
    block = recording("normal")
    assert {b.label for b in block.beats} == {"N"}
    rr = np.array([b.rr_s for b in block.beats[1:]])
    assert 60 < 60 / rr.mean() < 85
    assert 0.005 < rr.std() < 0.1  # respiratory sinus arrhythmia + jitter, not a metronome


def test_r_wave_in_lead_ii_is_about_one_millivolt() -> None:
    block = recording("normal", quiet=True)
    peaks = [block.ecg[1, b.ecg_index] for b in block.beats]
    assert 0.6 < float(np.median(peaks)) < 1.8


def test_beat_times_are_exact_ecg_sample_instants() -> None:
    block = recording("pvc_rich")
    for b in block.beats:
        assert b.t_s == b.ecg_index / FS


def test_signal_qrs_complexes_match_the_ground_truth_beats() -> None:
    block = recording("pvc_rich", quiet=True)
    found = detect_qrs(block.ecg)
    truth = np.array([b.ecg_index for b in block.beats])
    nearest = np.min(np.abs(found[:, None] - truth[None, :]), axis=1)
    assert len(found) == len(truth)
    assert np.all(nearest < 0.06 * FS)


def test_einthoven_lead_iii_equals_lead_ii_minus_lead_i_exactly() -> None:
    for name in ("normal", "ventricular_fibrillation", "pvc_rich"):
        ecg = recording(name).ecg
        assert ecg.dtype == np.float32
        assert np.array_equal(ecg[2], ecg[1] - ecg[0])


def test_three_leads_have_different_morphology() -> None:
    ecg = recording("normal", quiet=True).ecg
    pairs = np.corrcoef(ecg)[np.triu_indices(3, 1)]
    assert pairs.max() < 0.995  # no lead is a scaled copy of another
    assert pairs.min() < 0.9


def test_bradycardia_scenario_reaches_stated_rate_with_normal_beats() -> None:
    block = recording("bradycardia")
    late = beats_between(block, 35, 60)
    assert {b.label for b in late} == {"N"}
    assert 34 <= rate_of(late) <= 42  # scenario: 38 /min
    assert 60 <= rate_of(beats_between(block, 0, 20)) <= 80


def test_tachycardia_scenario_reaches_stated_rate() -> None:
    block = recording("tachycardia")
    late = beats_between(block, 40, 60)
    assert {b.label for b in late} == {"N"}
    assert 140 <= rate_of(late) <= 160  # scenario: 150 /min


def test_vt_scenario_has_ventricular_run_at_stated_rate() -> None:
    block = recording("ventricular_tachycardia")
    before = beats_between(block, 0, 20)
    during = beats_between(block, 20, 60)
    assert {b.label for b in before} == {"N"}
    assert {b.label for b in during} == {"V"}
    assert len(during) >= 5  # the VT criterion: five or more consecutive ventricular beats
    assert during[0].t_s < 20.3  # onset at the stated time
    assert 170 <= rate_of(during) <= 190  # scenario: 180 /min
    assert [e.kind for e in block.episodes if e.start_s == 20.0] == ["vt"]


def test_rates_from_30_to_300_per_minute_are_produced() -> None:
    from vigil.models.synthetic import scenario_from_toml

    for rate, rhythm in ((30, "brady"), (300, "vt"), (250, "tachy")):
        sc = scenario_from_toml(f'name = "r"\n[initial]\nrhythm = "{rhythm}"\nrate = {rate}\n')
        block = generate_recording(sc, 1, 20)
        measured = rate_of(beats_between(block, 5, 20))
        assert abs(measured - rate) < 0.06 * rate, (rhythm, rate, measured)


def test_pvc_is_premature_with_wide_qrs_and_compensatory_pause() -> None:
    block = recording("pvc_rich", seconds=120, quiet=True)
    beats = block.beats
    normal_rr = float(np.nanmedian([b.rr_s for b in beats if b.label == "N"]))
    lead_ii = block.ecg[1]
    pvcs = [i for i, b in enumerate(beats) if b.label == "V" and 0 < i < len(beats) - 1]
    assert len(pvcs) >= 10
    assert all(b.t_s >= 20 for b in beats if b.label == "V")
    for i in pvcs:
        pvc, after = beats[i], beats[i + 1]
        assert after.label == "N"
        assert pvc.rr_s < 0.8 * normal_rr  # premature
        assert abs(pvc.rr_s + after.rr_s - 2 * normal_rr) < 0.15 * normal_rr  # full pause
        assert qrs_width_s(lead_ii, pvc.ecg_index) > 0.12  # wide QRS, measured on the signal
    normal_widths = [qrs_width_s(lead_ii, b.ecg_index) for b in beats[1:40] if b.label == "N"]
    assert max(normal_widths) < 0.11


def test_pvc_has_no_p_wave_and_discordant_t_wave() -> None:
    block = recording("pvc_rich", seconds=120, quiet=True)
    lead = block.ecg[1].astype(np.float64)
    for b in [x for x in block.beats if x.label == "V"][:5]:
        i = b.ecg_index
        qrs = lead[i - 40 : i + 40]
        main = qrs[np.argmax(np.abs(qrs - lead[i - 60]))] - lead[i - 60]
        t_wave = lead[i + 100 : i + 200]
        t_peak = t_wave[np.argmax(np.abs(t_wave - lead[i - 60]))] - lead[i - 60]
        assert np.sign(t_peak) == -np.sign(main)  # T opposite to the QRS
        # no P wave: the 250-60 ms before the PVC shows only the preceding T wave's tail
        pre = lead[i - 125 : i - 30]
        assert np.ptp(pre) < 0.5 * abs(main)


def test_vf_has_no_organised_qrs_and_dominant_frequency_4_to_8_hz() -> None:
    block = recording("ventricular_fibrillation", seconds=70)
    assert beats_between(block, 20, 70) == []
    seg = block.ecg[1, 21 * FS :].astype(np.float64)
    f, pxx = welch(seg - seg.mean(), fs=FS, nperseg=4 * FS)
    band = (f >= 1) & (f <= 40)
    dominant = f[band][np.argmax(pxx[band])]
    assert 4.0 <= dominant <= 8.0
    in_vf_band = pxx[(f >= 3.5) & (f <= 9)].sum() / pxx[band].sum()
    assert in_vf_band > 0.6
    p2p = [np.ptp(seg[k : k + FS]) for k in range(0, len(seg) - FS, FS)]
    assert min(p2p) > 0.2
    assert max(p2p) < 3.0
    assert max(p2p) / min(p2p) > 1.3  # amplitude varies


def test_asystole_has_no_beats_and_a_flat_ecg() -> None:
    block = recording("asystole")
    assert beats_between(block, 20, 60) == []
    qrs_band = sosfiltfilt(butter(2, [5, 40], btype="band", fs=FS, output="sos"), block.ecg[1])
    assert np.abs(qrs_band[21 * FS :]).max() < 0.2 * np.abs(qrs_band[: 20 * FS]).max()
    assert np.std(block.ecg[1, 21 * FS :]) < 0.2  # baseline wander and noise only
    assert [e.kind for e in block.episodes if e.start_s == 20.0] == ["asystole"]


def test_asystole_with_p_waves_shows_p_waves_but_no_qrs() -> None:
    from vigil.models.synthetic import scenario_from_toml

    sc = scenario_from_toml(
        'name = "p"\n[initial]\nemg_mv = 0.0\nmains_mv = 0.0\nbaseline_mv = 0.0\n'
        '[[event]]\nat = 5.0\nrhythm = "asystole"\np_waves = true\n'
    )
    block = generate_recording(sc, 3, 30)
    assert beats_between(block, 5, 30) == []
    lead = block.ecg[1, 6 * FS :]
    assert 0.03 < np.ptp(lead) < 0.4  # P waves only
