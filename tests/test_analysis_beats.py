"""Beat classification: the shipped ECG beat model (batched), the morphology fallback, the
heart rate.

The ECG front end is not used here: R peaks come from the synthesizer's ground-truth beats
(jittered by up to 3 samples, as a detector would be off), and analysis windows are built
from the device STATUS (leads off) and the samples (NaN = missing), 1 s long, aligned at
multiples of round(fs). The helpers below are shared with test_analysis_vf.py and
test_analysis_arrhythmia.py.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pytest

from vigil.models.synthetic import PatientSimulator, PhysioState, Scenario, SignalBlock
from vigil.runtime.analysis.arrhythmia import ArrhythmiaDetector
from vigil.runtime.analysis.beat_classifier import (
    FALLBACK,
    MORPHOLOGY,
    OVERRULED,
    BeatClassifier,
    lookahead_samples,
)
from vigil.runtime.analysis.condition import Condition
from vigil.runtime.analysis.events import Beat, EcgWindow, LeadQuality, RPeak
from vigil.runtime.analysis.heart_rate import HeartRateMeter
from vigil.runtime.analysis.settings import AnalysisSettings, ModelSettings
from vigil.runtime.analysis.vf_detector import VfDecision, VfDetector
from vigil.runtime.artifact_loader import shipped_artifact

LEADS = ("I", "II", "III")
FS = Fraction(500)
NO_MODEL = ModelSettings(enabled=False)


# -- shared helpers (imported by the VF and arrhythmia tests) -------------------------------
def render(scenario: Scenario | str, seed: int, seconds: float, fs: Fraction = FS) -> SignalBlock:
    return PatientSimulator(scenario, seed, ecg_rate=fs).render(0, Fraction(seconds))


def r_peaks(block: SignalBlock, fs: Fraction = FS, seed: int = 0, jitter: int = 3) -> list[RPeak]:
    """R peaks where the synthesizer put its beats, each off by up to `jitter` samples."""
    rng = np.random.default_rng(seed)
    out = []
    for b in block.beats:
        i = b.ecg_index + int(rng.integers(-jitter, jitter + 1))
        out.append(RPeak(i, float(i / fs), 1.0, LEADS, i))
    return out


def ecg_windows(
    block: SignalBlock,
    fs: Fraction = FS,
    *,
    ecg: np.ndarray | None = None,
    noisy: tuple[float, float] | None = None,
    noisy_lead: tuple[str, float, float] | None = None,
) -> list[EcgWindow]:
    """1 s windows: a lead is unusable when STATUS flags it off, or any sample is NaN; every
    lead is unusable ("noise") for windows starting in `noisy` = (t0, t1) seconds, one lead
    for those in `noisy_lead` = (lead, t0, t1)."""
    ecg = block.ecg if ecg is None else ecg
    w = round(fs)
    out = []
    for k in range(ecg.shape[1] // w):
        a, b = k * w, (k + 1) * w
        status = block.status[k] if k < len(block.status) else None
        quality = []
        for j, lead in enumerate(LEADS):
            off = bool(status is not None and status.leads_off[j])
            missing = not np.isfinite(ecg[j, a:b]).all()
            noise = noisy is not None and noisy[0] <= k < noisy[1]
            if noisy_lead is not None and noisy_lead[0] == lead:
                noise = noise or noisy_lead[1] <= k < noisy_lead[2]
            reason = "leads_off" if off else "missing" if missing else "noise" if noise else ""
            quality.append(LeadQuality(lead, a, b, not reason, reason, 0.01, 0.1))
        usable = tuple(q.lead for q in quality if q.usable)
        unusable = [q for q in quality if not q.usable]
        leads_off = bool(unusable) and all(q.reason == "leads_off" for q in unusable)
        out.append(EcgWindow(a, b, float(a / fs), usable, bool(usable), leads_off, tuple(quality)))
    return out


@dataclass
class Run:
    beats: list[Beat] = field(default_factory=list)
    vf: list[VfDecision] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    emitted_at: list[int] = field(default_factory=list)  # end index of the feed that gave a beat
    classifier: BeatClassifier | None = None
    arrhythmia: ArrhythmiaDetector | None = None

    def kinds(self) -> list[str]:
        return [c.kind for c in self.conditions if c.end_s is None]

    def starts(self, kind: str) -> list[Condition]:
        return [c for c in self.conditions if c.kind == kind and c.end_s is None]

    def ends(self, kind: str) -> list[Condition]:
        return [c for c in self.conditions if c.kind == kind and c.end_s is not None]


def run_stages(
    block: SignalBlock,
    fs: Fraction = FS,
    *,
    models: ModelSettings | None = None,
    settings: AnalysisSettings | None = None,
    chunk: int | list[int] = 20,
    peaks: list[RPeak] | None = None,
    windows: list[EcgWindow] | None = None,
    ecg: np.ndarray | None = None,
    arrhythmia: bool = True,
    beats_through: bool = True,
    lag: int = 0,
) -> Run:
    """Classifier, VF detector and arrhythmia detector fed as the bed analyzer feeds them, in
    chunks (a size, or a list of sizes to cycle); peaks and windows are "reported" in the
    feed whose end passes them by `lag` samples (the front end's look-ahead; 0 by default).
    The classifier's `beats_through` goes to the arrhythmia detector unless `beats_through`
    is False."""
    settings = settings or AnalysisSettings(bed="bed", models=models or ModelSettings())
    ecg = block.ecg if ecg is None else ecg
    peaks = r_peaks(block, fs) if peaks is None else peaks
    windows = ecg_windows(block, fs) if windows is None else windows
    run = Run()
    clf = BeatClassifier(fs, LEADS, "bed", settings.models)
    vfd = VfDetector(fs, LEADS)
    arr = ArrhythmiaDetector("bed", fs, settings) if arrhythmia else None
    run.classifier, run.arrhythmia = clf, arr
    run.conditions += clf.startup_conditions()
    sizes = [chunk] if isinstance(chunk, int) else chunk
    n, a, pi, wi, k = ecg.shape[1], 0, 0, 0, 0
    while a < n:
        b = min(n, a + sizes[k % len(sizes)])
        k += 1
        new_peaks, new_windows = [], []
        through = max(0, b - lag) if b < n else n  # the front end flushes at the end
        while pi < len(peaks) and peaks[pi].index < through:
            new_peaks.append(peaks[pi])
            pi += 1
        while wi < len(windows) and windows[wi].stop <= through:
            new_windows.append(windows[wi])
            wi += 1
        beats = clf.feed(a, ecg[:, a:b], new_peaks, new_windows)
        vf = vfd.feed(a, ecg[:, a:b], new_windows)
        run.beats += beats
        run.emitted_at += [b] * len(beats)
        run.vf += vf
        if arr is not None:
            done = clf.beats_through(through) if beats_through else None
            run.conditions += arr.update(beats, new_windows, vf, through, beats_through=done)
        a = b
    return run


def same_beats(x: list[Beat], y: list[Beat]) -> bool:
    """Equal beats, NaN equal to NaN."""

    def key(b: Beat) -> tuple:
        return tuple(
            "nan" if isinstance(v, float) and math.isnan(v) else v
            for v in (
                b.index,
                b.t_s,
                b.label,
                b.decided_by,
                b.confidence,
                b.amplitude_mv,
                b.qrs_width_s,
                b.rr_s,
            )
        )

    return len(x) == len(y) and all(key(a) == key(b) for a, b in zip(x, y, strict=True))


def pvc_scores(block: SignalBlock, beats: list[Beat], jitter: int = 3) -> tuple[float, float]:
    """(Se, +P) of V labels against the ground truth (beats matched by R index +- jitter)."""
    truth = {b.ecg_index + d: b.label for b in block.beats for d in range(-jitter, jitter + 1)}
    said = {b.index + d: b.label for b in beats for d in range(-jitter, jitter + 1)}
    tp = sum(1 for b in beats if b.label == "V" and truth.get(b.index) == "V")
    fp = sum(1 for b in beats if b.label == "V" and truth.get(b.index) != "V")
    last = max((b.index for b in beats), default=-1) + jitter  # later beats: not yet due
    fn = sum(
        1
        for b in block.beats
        if b.label == "V" and b.ecg_index <= last and said.get(b.ecg_index) != "V"
    )
    return tp / max(1, tp + fn), tp / max(1, tp + fp)


# -- classification ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pvc_recordings() -> list[SignalBlock]:
    return [render("pvc_rich", seed, 180) for seed in (1, 2, 3)]


def test_model_labels_pvcs_with_high_sensitivity_and_predictivity(pvc_recordings):
    for block in pvc_recordings:
        run = run_stages(block, chunk=5000, arrhythmia=False)
        assert run.classifier is not None
        assert run.classifier.decided_by == "model:ecg_beat 1.0.0 onnxruntime-cpu"
        se, ppv = pvc_scores(block, run.beats)
        assert se >= 0.98, se
        assert ppv >= 0.98, ppv
        by_model = sum(b.decided_by == run.classifier.decided_by for b in run.beats)
        assert by_model >= len(run.beats) - 2  # the first beat's window starts before 0


def test_morphology_labels_pvcs_when_no_model_is_configured(pvc_recordings):
    for block in pvc_recordings:
        run = run_stages(block, models=NO_MODEL, chunk=5000, arrhythmia=False)
        assert run.classifier is not None
        assert run.classifier.decided_by == MORPHOLOGY
        assert run.classifier.startup_conditions() == []
        assert {b.decided_by for b in run.beats} == {MORPHOLOGY}
        se, ppv = pvc_scores(block, run.beats)
        assert se >= 0.95, se
        assert ppv >= 0.95, ppv
        normal = [b for b in run.beats if b.label == "N"]
        assert all(b.qrs_width_s <= 0.12 for b in normal if math.isfinite(b.qrs_width_s))


def test_corrupted_artifact_raises_model_unavailable_and_morphology_takes_over(tmp_path):
    broken = tmp_path / "ecg_beat"
    shutil.copytree(shipped_artifact("ecg_beat"), broken)
    data = bytearray((broken / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / "model.onnx").write_bytes(bytes(data))
    block = render("pvc_rich", 4, 120)
    run = run_stages(block, models=ModelSettings(ecg_beat=broken), chunk=5000, arrhythmia=False)
    (unavailable,) = run.conditions
    assert unavailable.kind == "model_unavailable"
    assert unavailable.category.value == "technical"
    assert unavailable.evidence["path"] == str(broken)
    assert "sha256" in unavailable.evidence["error"]
    assert {b.decided_by for b in run.beats} == {MORPHOLOGY}
    se, ppv = pvc_scores(block, run.beats)
    assert se >= 0.9, se
    assert ppv >= 0.9, ppv


def test_missing_artifact_raises_model_unavailable(tmp_path):
    clf = BeatClassifier(FS, LEADS, "bed", ModelSettings(ecg_beat=tmp_path / "nothing"))
    (c,) = clf.startup_conditions()
    assert c.kind == "model_unavailable"
    assert "manifest.json is missing" in c.evidence["error"]
    assert clf.decided_by == MORPHOLOGY


def test_each_feed_runs_one_batched_inference_call():
    block = render("pvc_rich", 5, 60)
    clf = BeatClassifier(FS, LEADS, "bed", ModelSettings())
    backend = clf._backend
    calls: list[int] = []
    real = backend.infer

    def counting(inputs):
        calls.append(next(iter(inputs.values())).shape[0])
        return real(inputs)

    backend.infer = counting
    beats = clf.feed(0, block.ecg, r_peaks(block), ecg_windows(block))
    assert len(calls) == 1  # one call for the whole feed, not one per beat
    assert calls[0] == sum(b.decided_by == clf.decided_by for b in beats) >= 60


def test_chunking_does_not_change_beats():
    block = render("pvc_rich", 6, 60)
    whole = run_stages(block, chunk=block.ecg.shape[1], arrhythmia=False).beats
    live = run_stages(block, chunk=20, arrhythmia=False).beats  # 40 ms chunks
    odd = run_stages(block, chunk=[1, 7, 333, 2999, 13], arrhythmia=False).beats
    assert len(whole) >= 70
    assert same_beats(whole, live)
    assert same_beats(whole, odd)


def test_beats_come_within_the_stated_lookahead():
    assert lookahead_samples(FS) == 384  # 192 samples at 250 Hz after R
    block = render("pvc_rich", 7, 30)
    run = run_stages(block, chunk=10, arrhythmia=False)
    delays = [end - b.index for b, end in zip(run.beats, run.emitted_at, strict=True)]
    assert max(delays) <= lookahead_samples(FS) + 10
    assert run.classifier is not None
    assert pytest.approx(0.768) == run.classifier.LOOKAHEAD_S


@pytest.mark.parametrize("rate", [250, 360, 1000])
def test_other_sample_rates_are_resampled_for_the_model(rate):
    fs = Fraction(rate)
    block = render("pvc_rich", 8, 120, fs=fs)
    run = run_stages(block, fs, chunk=4 * rate, arrhythmia=False)
    assert run.classifier is not None
    assert sum(b.decided_by == run.classifier.decided_by for b in run.beats) >= 130
    se, ppv = pvc_scores(block, run.beats, jitter=3)
    assert se >= 0.97, se
    assert ppv >= 0.97, ppv
    assert lookahead_samples(fs) / rate < 0.9


def test_lead_ii_off_sends_its_beats_to_morphology():
    block = render("leads_off", 3, 60)  # leads I and II off at 20 s, lead III carries on
    run = run_stages(block, arrhythmia=False)
    before = [b for b in run.beats if 1.0 < b.t_s < 19.0]
    after = [b for b in run.beats if b.t_s > 21.0]
    assert run.classifier is not None
    assert all(b.decided_by == run.classifier.decided_by for b in before)
    assert all(b.decided_by == FALLBACK for b in after)
    labels = Counter(b.label for b in after)
    assert labels["V"] == 0
    assert labels["N"] >= 0.95 * len(after)


def test_lead_ii_the_front_end_calls_unusable_goes_to_morphology():
    block = render("pvc_rich", 12, 60)
    windows = ecg_windows(block, noisy_lead=("II", 30, 40))
    run = run_stages(block, windows=windows, arrhythmia=False)
    assert run.classifier is not None
    inside = [b for b in run.beats if 30.8 < b.t_s < 39.2]
    outside = [b for b in run.beats if 1.0 < b.t_s < 28.5 or b.t_s > 41.0]
    assert inside
    assert all(b.decided_by == FALLBACK for b in inside)
    assert all(b.decided_by == run.classifier.decided_by for b in outside)
    se, ppv = pvc_scores(block, run.beats)
    assert se >= 0.95
    assert ppv >= 0.95


def test_late_analysis_windows_do_not_change_beats():
    """The front end reports windows up to 1.2 s late: a beat waits for the windows ending
    within its classification window, whatever the chunking."""
    block = render("pvc_rich", 13, 60)
    windows = ecg_windows(block, noisy_lead=("II", 20, 23))
    runs = [
        run_stages(block, windows=windows, chunk=chunk, lag=600, arrhythmia=False).beats
        for chunk in (20, 7, 1000, block.ecg.shape[1])
    ]
    assert all(same_beats(runs[0], other) for other in runs[1:])
    assert sum(b.decided_by == FALLBACK for b in runs[0]) >= 3


def test_morphology_labels_vt_beats_ventricular():
    block = render("ventricular_tachycardia", 14, 40)
    run = run_stages(block, models=NO_MODEL, chunk=1000)
    vt = [b for b in run.beats if b.t_s > 21.0]
    assert sum(b.label == "V" for b in vt) >= 0.95 * len(vt)
    assert all(b.qrs_width_s > 0.12 for b in vt if b.label == "V")
    (alarm,) = run.starts("vt")
    assert alarm.evidence["decided_by"] == MORPHOLOGY
    # monitoring starts in VT: no normal template, no normal rhythm: the width alone decides
    block = render(Scenario("vt from the start", "", PhysioState(rhythm="vt", rate=160.0)), 15, 20)
    run = run_stages(block, models=NO_MODEL, chunk=1000)
    assert sum(b.label == "V" for b in run.beats) >= 0.95 * len(run.beats)
    assert run.starts("vt")


def test_missing_lead_ii_samples_fall_back_without_feeding_nan_to_the_model():
    block = render("normal", 9, 40)
    ecg = block.ecg.copy()
    ecg[1, 10_000:12_500] = np.nan  # lead II missing from 20 s to 25 s
    run = run_stages(block, ecg=ecg, windows=ecg_windows(block, ecg=ecg), arrhythmia=False)
    gap = [b for b in run.beats if 20.0 < b.t_s < 25.0]
    assert gap
    assert all(b.decided_by == FALLBACK for b in gap)
    assert all(b.label == "N" for b in run.beats)


def test_noise_on_lead_ii_over_a_real_beat_is_overruled_by_a_clean_lead():
    """Electrode motion on RA (leads I and II) at 4-8 Hz, lead III clean: the model reading
    lead II calls some beats "other"; lead III shows them matching its normal template."""
    block = render("normal", 10, 60)
    vf = render("ventricular_fibrillation", 10, 60)
    ecg = block.ecg.copy()
    motion = 2.0 * vf.ecg[0, 25_000:30_000]  # VF-like waves, ~2 mV
    ecg[0, 10_000:15_000] -= motion  # RA moves: I = LA - RA and II = LL - RA both see it
    ecg[1, 10_000:15_000] -= motion
    run = run_stages(block, ecg=ecg, arrhythmia=False)
    noisy = [b for b in run.beats if 20.5 < b.t_s < 29.5]
    assert any(b.decided_by == OVERRULED for b in noisy)
    assert sum(b.label == "N" for b in noisy) >= 0.9 * len(noisy)


def test_bad_input_is_refused_with_a_clear_error():
    clf = BeatClassifier(FS, LEADS, "bed", NO_MODEL)
    with pytest.raises(ValueError, match="n_leads=3"):
        clf.feed(0, np.zeros((2, 100), dtype=np.float32), [], [])
    clf.feed(0, np.zeros((3, 100), dtype=np.float32), [], [])
    with pytest.raises(ValueError, match="expected 100"):
        clf.feed(200, np.zeros((3, 100), dtype=np.float32), [], [])
    clf.gap(200)
    clf.feed(200, np.zeros((3, 100), dtype=np.float32), [], [])


# -- heart rate ----------------------------------------------------------------------------
def test_heart_rate_is_the_mean_of_the_last_rr_intervals_skipping_q_beats():
    block = render(Scenario("steady", "", PhysioState(rate=90.0)), 11, 60)
    beats = [Beat(b.ecg_index, b.t_s, b.label, "truth", 1.0, 1.0) for b in block.beats]
    noisy = list(beats)
    noisy.insert(20, Beat(beats[19].index + 100, beats[19].t_s + 0.2, "Q", "truth", 1.0, 1.0))
    rates = HeartRateMeter(8).update(beats)
    assert rates == HeartRateMeter(8).update(noisy)  # a Q beat is not a QRS
    t = [b.t_s for b in beats]
    expected = 60.0 / np.mean(np.diff(t)[-8:])
    assert rates[-1] == (t[-1], pytest.approx(expected))
    assert 85 <= np.median([r for _, r in rates]) <= 95


def test_heart_rate_reads_zero_when_qrs_complexes_stop():
    meter = HeartRateMeter(8)
    meter.update([Beat(i * 400, i * 0.8, "N", "truth", 1.0, 1.0) for i in range(10)])
    assert meter.rate_at(7.3) == pytest.approx(75.0)
    assert meter.rate_at(13.5) == 0.0  # 6.3 s after the last beat
    assert math.isnan(HeartRateMeter(8).rate_at(1.0))
