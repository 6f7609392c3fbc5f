"""The `organised_qrs` rule of the arrhythmia detector, on beats, windows and VF verdicts
built by hand: which detections count as an organised rhythm that vetoes a fibrillatory
window, and which do not hold VF back.

The detector is fed one 1 s window at a time, every beat of that second with it, as the bed
analyzer feeds it once the front end and the classifier have reported them.
"""

from __future__ import annotations

import math
from fractions import Fraction

from vigil.runtime.analysis.arrhythmia import ORGANISED_QRS, ArrhythmiaDetector
from vigil.runtime.analysis.condition import Condition
from vigil.runtime.analysis.events import Beat, EcgWindow, LeadQuality
from vigil.runtime.analysis.settings import AnalysisSettings
from vigil.runtime.analysis.vf_detector import VfDecision

FS = 500
LEADS = ("I", "II", "III")
SINUS_RR_S = 0.8


def window(k: int) -> EcgWindow:
    a, b = k * FS, (k + 1) * FS
    quality = tuple(LeadQuality(lead, a, b, True, "", 0.01, 0.1) for lead in LEADS)
    return EcgWindow(a, b, float(k), LEADS, True, False, quality)


def verdict(k: int, fibrillatory: bool) -> VfDecision:
    fib = (fibrillatory, fibrillatory, False)
    return VfDecision(
        start=k * FS,
        stop=(k + 1) * FS,
        t_s=float(k),
        leads=LEADS,
        usable=(True, True, True),
        fibrillatory=fib,
        leakage=tuple(0.2 if f else 0.9 for f in fib),
        frequency_hz=(5.0, 5.0, math.nan),
        fibrillatory_any=fibrillatory,
    )


def beat(t: float, label: str) -> Beat:
    return Beat(round(t * FS), round(t * FS) / FS, label, "test", 0.9, 1.0)


def sinus(t0: float, t1: float, labels: str = "N") -> list[Beat]:
    """Beats every SINUS_RR_S in [t0, t1), labelled by cycling through `labels`."""
    n = math.ceil((t1 - t0) / SINUS_RR_S - 1e-9)
    return [beat(t0 + i * SINUS_RR_S, labels[i % len(labels)]) for i in range(n)]


def run(
    beats: list[Beat], fibrillatory_from: float, fibrillatory_to: float, seconds: int = 40
) -> tuple[list[Condition], ArrhythmiaDetector]:
    """Feed the detector second by second; windows in [from, to) are fibrillatory."""
    detector = ArrhythmiaDetector("bed", Fraction(FS), AnalysisSettings())
    out: list[Condition] = []
    beats = sorted(beats, key=lambda b: b.index)
    for k in range(seconds):
        now = [b for b in beats if k * FS <= b.index < (k + 1) * FS]
        fib = fibrillatory_from <= k < fibrillatory_to
        end = (k + 1) * FS
        out += detector.update(now, [window(k)], [verdict(k, fib)], end, beats_through=end)
    return out, detector


def starts(conditions: list[Condition], kind: str) -> list[Condition]:
    return [c for c in conditions if c.kind == kind and c.end_s is None]


def test_three_steady_detections_on_fibrillation_waves_do_not_hold_vf_back():
    """Three V detections on VF waves 0.4 s apart once looked like an organised rhythm, vetoed
    a window and restarted the 4 s count: VF came 2 s late. An organised rhythm takes five."""
    waves = [beat(t, "V") for t in (20.35, 20.75, 21.15)]
    waves += [beat(t, label) for t, label in ((21.4, "Q"), (21.62, "V"), (21.9, "Q"))]
    waves += [beat(21.9 + 0.23 * i + 0.17 * (i % 3), "QVV"[i % 3]) for i in range(1, 40)]
    conditions, detector = run(sinus(0.4, 20.0) + waves, 20.0, 40.0)
    (vf,) = starts(conditions, "vf")
    assert vf.onset_s == 24.0
    assert vf.evidence["fibrillatory_since_s"] == 20.0
    assert not [v for v in detector.vetoes if v["t_s"] >= 20.0]


def test_fast_vt_vetoes_every_fibrillatory_window_once_five_beats_have_come():
    """VT at 200 /min looks fibrillatory to the VF filter; its beats are organised: no VF."""
    vt = [beat(20.0 + 0.3 * i, "V") for i in range(67)]
    conditions, detector = run(sinus(0.4, 20.0) + vt, 20.0, 40.0)
    assert starts(conditions, "vt")
    assert not starts(conditions, "vf")
    vetoed = {v["t_s"] for v in detector.vetoes if v["rule"] == ORGANISED_QRS}
    assert vetoed == {float(k) for k in range(21, 40)}  # the fifth beat comes at 21.2 s


def test_sinus_beats_the_classifier_rejects_still_veto_a_fibrillatory_looking_lead():
    """Electrode motion makes two leads look fibrillatory and the classifier rejects most
    sinus beats (Q); their steady timing still shows the rhythm, so there is no VF."""
    beats = sinus(0.4, 20.0) + sinus(20.4, 40.0, labels="NQQQ")
    conditions, detector = run(beats, 20.0, 40.0)
    assert not starts(conditions, "vf")
    assert detector.counters["vf_vetoed"] >= 5


def test_rejected_detections_at_fibrillation_rates_are_no_organised_rhythm():
    """Steady detections 0.3 s apart, V and Q by turns, are fibrillation waves, not sinus
    beats the classifier rejected: VF is raised on time."""
    waves = [beat(20.1 + 0.3 * i, "VQ"[i % 2]) for i in range(66)]
    conditions, _ = run(sinus(0.4, 20.0) + waves, 20.0, 40.0)
    (vf,) = starts(conditions, "vf")
    assert vf.onset_s == 24.0
