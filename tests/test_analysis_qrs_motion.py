"""R peaks through electrode-motion artefacts, without losing wide ectopic beats.

Motion noise as the accuracy benchmark makes it (benchmarks/analysis_accuracy.py): bursts on
every electrode at once, 10 per minute, at an SNR measured against the R amplitude of a
noise-free render of the same patient and rhythm. Beats are scored as EC57 does (150 ms)
from 3 s in (start-up) to 2 s before the end (look-ahead).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from analysis_signals import (
    QUIET,
    Score,
    feed_chunks,
    patient,
    random_sizes,
    render,
    scenario,
    score_beats,
)

from vigil.models.synthetic import Event, SignalBlock
from vigil.runtime.analysis import qrs_detector
from vigil.runtime.analysis.ecg_front_end import EcgFrontEnd
from vigil.runtime.analysis.events import RPeak

FS = 500
LEADS = ("I", "II", "III")
SECONDS = 20
MOTION_PER_MIN = 10.0


@cache
def r_amplitude_mv(rhythm: str, rate: float, seed: int) -> float:
    """Median R amplitude in lead II (largest |sample| within 60 ms of each R) without noise."""
    quiet = render(scenario(rhythm=rhythm, rate=rate, **QUIET), seed, SECONDS)
    half = round(0.06 * FS)
    x = quiet.ecg[1]
    return float(
        np.median(
            [np.abs(x[max(b.ecg_index - half, 0) : b.ecg_index + half]).max() for b in quiet.beats]
        )
    )


def motion_record(rhythm: str, rate: float, seed: int, snr_db: float) -> SignalBlock:
    level = r_amplitude_mv(rhythm, rate, seed) / 10 ** (snr_db / 20)
    state = scenario(rhythm=rhythm, rate=rate, motion_mv=level, motion_per_min=MOTION_PER_MIN)
    return render(state, seed, SECONDS)


def score(block: SignalBlock) -> Score:
    front = EcgFrontEnd(Fraction(FS), LEADS)
    ecg = block.ecg
    peaks = front.feed(0, ecg).peaks + front.gap(ecg.shape[1]).peaks
    return score_beats(
        [b.ecg_index for b in block.beats],
        [p.index for p in peaks],
        FS,
        start=3 * FS,
        stop=ecg.shape[1] - 2 * FS,
    )


def total(scores: list[Score]) -> Score:
    return Score(*(sum(getattr(s, k) for s in scores) for k in ("tp", "fn", "fp")))


# At 6 dB a burst's peak is half the R wave in RMS, so its swings reach 1.5 R. Before the high
# band and the level-weighted lead combination, these eight sinus records gave Se 97.5 % /
# +P 85.7 % at 6 dB (4 beats missed, 26 artefacts counted) and 99.4 % / 97.0 % at 12 dB; then
# 100 % / 94.7 % (9 artefacts) and 100 % / 97.0 % (5: between beats the QRS band judged
# alone); with the artefact rule and the high band's prior at 0.1 (qrs_detector, Candidates
# 4), 4 artefacts and 1.
@pytest.mark.parametrize(("snr_db", "most_artefacts"), [(12, 2), (6, 6)])
def test_electrode_motion_bursts_on_sinus_rhythm_are_not_counted_as_beats(
    snr_db: float, most_artefacts: int
) -> None:
    result = total([score(motion_record("sinus", 80, seed, snr_db)) for seed in range(1, 9)])
    assert result.se >= 0.99, result
    assert result.fp <= most_artefacts, result


def peaks_fed(ecg: np.ndarray, sizes: Iterable[int]) -> list[RPeak]:
    front = EcgFrontEnd(Fraction(FS), LEADS)
    peaks, _ = feed_chunks(front, ecg, sizes)
    return peaks + front.gap(ecg.shape[1]).peaks


def test_artefacts_are_rejected_alike_whatever_the_chunking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rule reads the QRS-band signal up to 0.45 s back, across feed() calls and windows:
    one chunk, the wire's 40 ms chunks and random ones give the same peaks."""
    ecg = motion_record("sinus", 80, 5, 6).ecg
    whole = peaks_fed(ecg, [ecg.shape[1]])
    assert peaks_fed(ecg, itertools.repeat(FS // 25)) == whole
    assert peaks_fed(ecg, random_sizes(3, 1, 700)) == whole
    monkeypatch.setattr(qrs_detector, "ARTEFACT_HIGH", 0.0)  # the rule off: it did reject some
    assert len(peaks_fed(ecg, [ecg.shape[1]])) > len(whole)


@pytest.mark.parametrize("coupling", [0.3, 0.45, 0.6])
def test_pvcs_in_a_clean_record_are_counted_at_any_coupling_r_on_t_included(
    coupling: float,
) -> None:
    """A PVC is premature and has no high-band peak, like an artefact: in a clean record it
    stands out from the signal around it, also on the T wave of the beat before (0.3 RR)."""
    missed = 0
    for seed in (1, 2, 3):
        p = patient(seed, pvc_coupling=coupling)
        block = render(scenario(rate=75, pvc_per_min=15.0), seed, 60, p=p)
        found = np.array([q.index for q in peaks_fed(block.ecg, [block.ecg.shape[1]])])
        pvcs = [b.ecg_index for b in block.beats if b.label == "V" and b.ecg_index > 3 * FS]
        assert len(pvcs) >= 8
        missed += sum(np.abs(found - v).min() > 0.15 * FS for v in pvcs)
    assert missed == 0


def test_vt_starting_among_narrow_beats_is_counted_from_its_first_complexes() -> None:
    """The first VT complexes come among narrow beats, premature and without a high-band
    peak; where one does not stand out (the next VT complex is already rising) the artefact
    rule may take it, but never the one after it: each VT run loses at most one complex."""
    lost = []
    for seed in range(12):
        onset = 10.0 + 0.07 * seed
        vt = Event(onset, (("rhythm", "vt"), ("rate", 110.0 + 12 * seed)))
        block = render(scenario(events=[vt], rate=55.0 + 4 * seed), seed, 16)
        found = np.array([q.index for q in peaks_fed(block.ecg, [block.ecg.shape[1]])])
        first = [b.ecg_index for b in block.beats if b.label == "V"][:6]
        missed = [np.abs(found - v).min() > 0.15 * FS for v in first]
        lost.append(sum(missed))
        assert not any(a and b for a, b in itertools.pairwise(missed)), seed
    assert sum(lost) <= 2, lost


def test_a_motion_burst_at_the_start_of_vt_does_not_lock_the_detector_out() -> None:
    """This record starts inside a burst on lead I, where the VT complexes are small: levels
    learned from the burst made every later complex look too small, and with no QRS yet there
    was no search-back (before: Se 51 %, 22 beats missed from 3 s to 10 s; now Se 95.6 %)."""
    result = score(motion_record("vt", 180, 4, 6))
    assert result.se >= 0.9, result
    assert result.ppv >= 0.9, result


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_pvc_among_narrow_beats_is_counted(seed: int) -> None:
    """PVCs are wide, so they have almost no energy in the high band that carries narrow
    complexes through motion: in a clean record that band must not take over."""
    block = render(scenario(rate=75, pvc_per_min=20.0), seed, 60)
    truth = [b.ecg_index for b in block.beats]
    front = EcgFrontEnd(Fraction(FS), LEADS)
    found = [p.index for p in front.feed(0, block.ecg).peaks]
    pvcs = [b.ecg_index for b in block.beats if b.label == "V" and 3 * FS < b.ecg_index < 58 * FS]
    assert len(pvcs) >= 8
    assert all(min(abs(i - v) for i in found) <= 0.15 * FS for v in pvcs)
    result = score_beats(truth, found, FS, start=3 * FS, stop=58 * FS)
    assert (result.fn, result.fp) == (0, 0), result


def test_motion_artefacts_smaller_than_the_narrow_beats_must_stand_out_further() -> None:
    """Bursts at 12 dB among sinus beats with PVCs. An artefact can stand out from the QRS
    band around it (4.5-8 times) as much as a PVC in a burst does, but a PVC is about as tall
    as the narrow beats or taller on the monitor signal, and the artefacts that stood out so
    were mostly smaller: a complex under ARTEFACT_SMALL of the narrow QRS' amplitude must
    stand out ARTEFACT_SMALL_CONTRAST times. Twelve one-minute records: 9 artefacts counted
    before, 5 now, and no PVC more is lost (9 of 152, all inside bursts)."""
    missed = artefacts = pvcs = 0
    for seed in range(1, 13):
        level = r_amplitude_mv("sinus", 75, seed) / 10 ** (12 / 20)
        state = scenario(rate=75, pvc_per_min=15.0, motion_mv=level, motion_per_min=MOTION_PER_MIN)
        block = render(state, seed, 60)
        found = np.array([q.index for q in peaks_fed(block.ecg, [block.ecg.shape[1]])])
        truth = np.array([b.ecg_index for b in block.beats])
        ventricular = [b.ecg_index for b in block.beats if b.label == "V" and b.ecg_index > 3 * FS]
        pvcs += len(ventricular)
        missed += sum(np.abs(found - v).min() > 0.15 * FS for v in ventricular)
        artefacts += sum(np.abs(truth - f).min() > 0.15 * FS for f in found[found > 3 * FS])
    assert pvcs >= 140
    assert missed <= 9, missed
    assert artefacts <= 5, artefacts
