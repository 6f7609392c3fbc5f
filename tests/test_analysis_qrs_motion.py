"""R peaks through electrode-motion artefacts, without losing wide ectopic beats.

Motion noise as the accuracy benchmark makes it (benchmarks/analysis_accuracy.py): bursts on
every electrode at once, 10 per minute, at an SNR measured against the R amplitude of a
noise-free render of the same patient and rhythm. Beats are scored as EC57 does (150 ms)
from 3 s in (start-up) to 2 s before the end (look-ahead).
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from analysis_signals import QUIET, Score, render, scenario, score_beats

from vigil.models.synthetic import SignalBlock
from vigil.runtime.analysis.ecg_front_end import EcgFrontEnd

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
# +P 85.7 % at 6 dB (4 beats missed, 26 artefacts counted) and 99.4 % / 97.0 % at 12 dB; now
# 100 % / 94.7 % (9 artefacts) and 100 % / 97.0 % (5: between beats the QRS band still
# judges alone, see qrs_detector).
@pytest.mark.parametrize(("snr_db", "ppv_bound"), [(12, 0.96), (6, 0.92)])
def test_electrode_motion_bursts_on_sinus_rhythm_are_not_counted_as_beats(
    snr_db: float, ppv_bound: float
) -> None:
    result = total([score(motion_record("sinus", 80, seed, snr_db)) for seed in range(1, 9)])
    assert result.se >= 0.99, result
    assert result.ppv >= ppv_bound, result


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
