"""EC57 beat-by-beat scoring: the matching rule, the counts and rates a reviewer reads, and
the reference annotations as PhysioNet writes them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.runtime.analysis.ec57 import (
    AAMI_CLASSES,
    Reference,
    load_reference,
    match_beats,
    score,
)
from vigil.runtime.analysis.recording_input import AnalysisInputError

FS = 500  # times below are sample indices / FS, as the analyser and WFDB produce them


def ref(*beats: tuple[float, str]) -> Reference:
    return Reference.from_symbols([t for t, _ in beats], [s for _, s in beats])


def test_a_detection_exactly_150_ms_away_matches_and_one_sample_further_does_not():
    # at every sample position: index / FS carries float round-off either way
    beats = np.arange(1000, 201_000, 200)  # one beat every 0.4 s for 400 s
    reference = Reference.from_symbols(beats / FS, ["N"] * len(beats))
    for offset in (75, -75):  # 75 samples = 150 ms
        at_limit = score(reference, (beats + offset) / FS, ["N"] * len(beats))
        assert (at_limit.tp, at_limit.fn, at_limit.fp) == (len(beats), 0, 0)
        beyond = score(reference, (beats + offset * 76 // 75) / FS, ["N"] * len(beats))
        assert (beyond.tp, beyond.fn, beyond.fp) == (0, len(beats), len(beats))


def test_two_detections_near_one_reference_beat_count_one_hit_and_one_false_beat():
    reference = ref((2.0, "N"))
    pairs = match_beats(reference.times_s, np.array([1.95, 2.02]))
    assert pairs == [(0, 1)]  # the nearer detection is the match
    result = score(reference, [1.95, 2.02], ["N", "N"])
    assert (result.tp, result.fn, result.fp) == (1, 0, 1)
    assert result.se == 1.0
    assert result.ppv == 0.5


def test_matching_takes_the_nearest_pair_first_not_the_earliest_reference():
    # 1.12 s is 120 ms after the first beat but 60 ms before the second: it belongs to the
    # second; the first reference beat is then missed.
    reference = ref((1.0, "N"), (1.18, "N"))
    assert match_beats(reference.times_s, np.array([1.12])) == [(1, 0)]
    result = score(reference, [1.12], ["N"])
    assert (result.tp, result.fn, result.fp) == (1, 1, 0)


def test_matching_is_one_to_one_and_agrees_with_an_exhaustive_search():
    rng = np.random.default_rng(7)
    for _ in range(30):
        reference = np.sort(rng.uniform(0, 20, rng.integers(0, 40)))
        detected = rng.uniform(0, 20, rng.integers(0, 40))
        pairs = match_beats(reference, detected)
        assert len({r for r, _ in pairs}) == len(pairs) == len({d for _, d in pairs})
        assert sorted(pairs) == _brute_force(reference, detected)


def _brute_force(reference: np.ndarray, detected: np.ndarray) -> list[tuple[int, int]]:
    candidates = sorted(
        (abs(r - d), i, j)
        for i, r in enumerate(reference)
        for j, d in enumerate(detected)
        if abs(r - d) <= 0.15 + 1e-6
    )
    used_r, used_d, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_r and j not in used_d:
            used_r.add(i)
            used_d.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def test_empty_lists_give_undefined_rates_instead_of_dividing_by_zero():
    nothing = score(ref(), [], [])
    assert (nothing.tp, nothing.fn, nothing.fp) == (0, 0, 0)
    assert nothing.se is None
    assert nothing.ppv is None
    assert nothing.v_se is None
    assert "QRS Se - (0/0)" in "\n".join(nothing.lines())
    missed = score(ref((1.0, "N"), (2.0, "V")), [], [])
    assert (missed.fn, missed.se, missed.ppv, missed.v_fn) == (2, 0.0, None, 1)
    invented = score(ref(), [1.0, 2.0], ["N", "V"])
    assert (invented.fp, invented.se, invented.ppv, invented.v_fp) == (2, None, 0.0, 1)


def test_reference_symbols_map_to_aami_classes_and_non_beat_annotations_are_ignored():
    symbols = [*list("NLRejVEAaJSFQ/f"), "+", "~", "|", '"', "x"]
    reference = Reference.from_symbols(np.arange(len(symbols), dtype=float), symbols)
    assert reference.classes == tuple("NNNNNVVSSSSFQQQ")
    assert len(reference.times_s) == 15
    assert {AAMI_CLASSES[s] for s in "NLRej"} == {"N"}


def test_ventricular_scores_follow_the_standard_confusion_matrix():
    reference = ref(
        (1.0, "V"),  # detected V: V TP
        (2.0, "V"),  # detected N: V FN
        (3.0, "V"),  # missed: V FN (and QRS FN)
        (4.0, "N"),  # detected V: V FP
        (5.0, "Q"),  # detected V: neither (unclassifiable reference)
        (6.0, "F"),  # detected V: neither (fusion reference)
        (7.0, "A"),  # detected V: V FP (S row)
    )
    detected = [1.01, 2.01, 4.01, 5.01, 6.01, 7.01, 8.0]  # 8.0: an invented V
    labels = ["V", "N", "V", "V", "V", "V", "V"]
    result = score(reference, detected, labels)
    assert (result.v_tp, result.v_fn, result.v_fp) == (1, 2, 3)
    assert result.v_se == pytest.approx(1 / 3)
    assert result.v_ppv == pytest.approx(1 / 4)
    assert (result.tp, result.fn, result.fp) == (6, 1, 1)


def test_skip_and_end_leave_beats_outside_the_scored_span_uncounted():
    reference = ref((1.0, "N"), (5.0, "N"), (9.5, "N"))
    result = score(reference, [3.0, 5.0, 9.9], ["N"] * 3, start_s=2.0, end_s=9.0)
    # 1.0 (missed) is in the skipped start, 9.5/9.9 in the undecided tail; 3.0 is invented
    assert (result.tp, result.fn, result.fp) == (1, 0, 1)
    assert "scored from 2 s to 9.0 s" in result.lines()[0]


def test_beats_inside_a_reference_vf_episode_are_not_scored():
    reference = Reference.from_symbols(
        [1.0, 2.0, 2.5, 3.0, 3.5, 6.0, 7.0], ["N", "[", "!", "V", "]", "N", "N"]
    )
    assert reference.vf_episodes == ((2.0, 3.5),)
    result = score(reference, [1.0, 2.2, 2.9, 3.3, 6.0, 7.0], ["N", "Q", "V", "Q", "N", "N"])
    assert (result.tp, result.fn, result.fp) == (3, 0, 0)
    assert (result.v_tp, result.v_fn, result.v_fp) == (0, 0, 0)


def test_reference_annotations_written_by_wfdb_load_as_beats_in_seconds(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    signal = np.zeros((3600, 1))
    wfdb.wrsamp("r1", fs=360, units=["mV"], sig_name=["MLII"], p_signal=signal, fmt=["16"],
                write_dir=str(tmp_path))  # fmt: skip
    samples = np.array([10, 100, 400, 401, 760, 1200])
    symbols = ["+", "N", "V", "~", "A", "/"]
    wfdb.wrann("r1", "atr", samples, symbol=symbols, aux_note=["(N", "", "", "", "", ""],
               write_dir=str(tmp_path))  # fmt: skip
    reference = load_reference(tmp_path / "r1.hea", "atr")
    assert reference.classes == ("N", "V", "S", "Q")
    np.testing.assert_allclose(reference.times_s, [100 / 360, 400 / 360, 760 / 360, 1200 / 360])
    assert reference.annotator == "atr"


def test_a_missing_annotation_file_names_the_file_it_looked_for(tmp_path):
    with pytest.raises(AnalysisInputError, match=r"r2\.qrs.*not found"):
        load_reference(tmp_path / "r2", "qrs")


def test_score_reports_json_ready_values():
    result = score(ref((1.0, "N")), [1.0], ["N"], end_s=math.inf)
    data = result.as_dict()
    assert data["end_s"] is None
    assert data["se"] == 1.0
    assert data["v_se"] is None
