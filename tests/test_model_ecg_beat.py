"""The ECG beat classifier: shipped weights, card metrics, data provenance, training entry.

Needs torch (the `[export]` extra); skipped with a reason where it is absent.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="ecg_beat training and evaluation need torch ([export])")

from safetensors.torch import load_file

from vigil.models.ecg_beat import REFERENCE
from vigil.models.ecg_beat import dataset as ds
from vigil.models.ecg_beat.evaluate import classification_metrics, torch_predict
from vigil.models.ecg_beat.train import train
from vigil.models.synthetic import PatientSimulator

CARD_TOLERANCE = 0.01
RECALL_VENTRICULAR_FLOOR = 0.95  # a missed PVC in a VT run can delay the VT alarm
PRECISION_NORMAL_FLOOR = 0.98  # a PVC or artefact called normal hides it from PVC counts
F1_OTHER_FLOOR = 0.95  # noise called a beat is how arrhythmia false alarms start


def card_metrics(card: Path) -> dict[str, float]:
    """The `| metric | value |` rows between the card's metrics markers."""
    text = card.read_text(encoding="utf-8")
    block = text.split("<!-- metrics:begin -->", 1)[1].split("<!-- metrics:end -->", 1)[0]
    rows = re.findall(r"^\|\s*([a-z_0-9]+)\s*\|\s*([0-9.]+)\s*\|\s*$", block, flags=re.M)
    return {name: float(value) for name, value in rows}


@pytest.fixture(scope="module")
def shipped_metrics() -> dict[str, float]:
    return REFERENCE.evaluate(torch_predict(REFERENCE.load()), 0)


def test_shipped_weights_are_safetensors_under_1_mb_and_load_strictly() -> None:
    assert REFERENCE.weights.stat().st_size < 1_000_000
    tensors = load_file(str(REFERENCE.weights))
    module = REFERENCE.build()
    module.load_state_dict(tensors, strict=True)
    assert set(tensors) == set(module.state_dict())


def test_eager_held_out_metrics_match_the_model_card(shipped_metrics: dict[str, float]) -> None:
    assert REFERENCE.card is not None
    card = card_metrics(REFERENCE.card)
    assert REFERENCE.main_metric in card
    assert {"recall_ventricular", "precision_normal", "f1_other", "accuracy"} <= set(card)
    for name, value in card.items():
        assert shipped_metrics[name] == pytest.approx(value, abs=CARD_TOLERANCE), name


def test_held_out_metrics_meet_the_stated_floors(shipped_metrics: dict[str, float]) -> None:
    assert shipped_metrics["recall_ventricular"] >= RECALL_VENTRICULAR_FLOOR
    assert shipped_metrics["precision_normal"] >= PRECISION_NORMAL_FLOOR
    assert shipped_metrics["f1_other"] >= F1_OTHER_FLOOR


def test_metrics_count_every_class_the_same_in_macro_f1() -> None:
    """A model that calls everything `normal` scores high accuracy on a beat-heavy set but a
    low macro F1: the main metric cannot be won by the majority class."""
    y_true = np.array([0] * 8 + [1, 2])
    metrics = classification_metrics(y_true, np.zeros_like(y_true))
    assert metrics["accuracy"] == pytest.approx(0.8)
    assert metrics["recall_ventricular"] == 0.0
    assert metrics["precision_normal"] == pytest.approx(0.8)
    assert metrics["f1_normal"] == pytest.approx(2 * 0.8 / 1.8)
    assert metrics["macro_f1"] == pytest.approx(2 * 0.8 / 1.8 / 3)
    perfect = classification_metrics(y_true, y_true)
    assert perfect["macro_f1"] == 1.0


def test_tiny_training_run_writes_loadable_safetensors_and_is_deterministic(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    quick = {"progress": False, "scale": 0.02, "max_steps": 3, "evaluate_seed": None}
    metrics = train(first, seed=3, **quick)
    train(second, seed=3, **quick)
    assert metrics["train_steps"] == 3
    header_len = int.from_bytes(first.read_bytes()[:8], "little")  # safetensors, not pickle
    assert first.read_bytes()[8 : 8 + header_len].startswith(b"{")
    a, b = load_file(str(first)), load_file(str(second))
    REFERENCE.build().load_state_dict(a, strict=True)
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_training_and_evaluation_ranges_and_seeds_differ() -> None:
    train_r, eval_r = ds.TRAIN_RANGES, ds.EVAL_RANGES
    assert train_r.patient != eval_r.patient
    differing = [
        f.name
        for f in dataclasses.fields(ds.DataRanges)
        if getattr(train_r, f.name) != getattr(eval_r, f.name)
    ]
    assert {"sinus_rate", "pvc_per_min", "emg_mv", "heavy_motion_mv"} <= set(differing)
    for seed in range(3):
        train_seeds = set(ds.recording_seeds(train_r, seed, ds.TRAIN_SIZE))
        for other in range(3):
            assert train_seeds.isdisjoint(ds.recording_seeds(eval_r, other, ds.EVAL_SIZE))


def test_beat_windows_are_centred_on_labelled_beats_within_the_jitter() -> None:
    quiet = dataclasses.replace(
        ds.TRAIN_RANGES,
        baseline_mv=(0.0, 0.0),
        emg_mv=(0.0, 0.0),
        motion_mv=(0.0, 0.0),
        motion_per_min=(0.0, 0.0),
        mains_mv=(0.0, 0.0),
        pvc_per_min=(20.0, 20.0),
    )
    rec = ds.render_recording("sinus", 7, 40, quiet)
    truth = PatientSimulator(
        ds.scenario_for("sinus", np.random.default_rng(7), quiet, 40), 7, ranges=quiet.patient
    ).render(Fraction(0), Fraction(40))
    beat_at = {b.ecg_index // ds.DECIMATION: b.label for b in truth.beats}
    is_beat = rec.labels != ds.OTHER
    assert {ds.NORMAL, ds.VENTRICULAR} <= set(rec.labels[is_beat].tolist())
    for centre, label in zip(rec.centres[is_beat], rec.labels[is_beat], strict=True):
        assert ds.BEAT_LABELS[beat_at[int(centre)]] == label
    gap = math.ceil(ds.OFF_BEAT_MIN_S * ds.SAMPLE_RATE_HZ)
    for centre in rec.centres[~is_beat]:
        assert min(abs(int(centre) - i) for i in beat_at) >= gap

    rng = np.random.default_rng(0)
    offsets = ds.draw_offsets(rng, int(is_beat.sum()))
    assert np.abs(offsets).max() <= ds.JITTER_SAMPLES
    windows = ds.cut(rec.signal, rec.centres[is_beat], offsets)[:, 0, :]
    assert windows.shape[1] == REFERENCE.meta["window_samples"]
    # on a noise-free signal the QRS extremum sits where the offset says the R peak is
    # (a PVC's wide, notched complex may put it a few milliseconds off its R-wave centre)
    r = REFERENCE.meta["r_peak_index"]
    near = windows[:, r - 15 : r + 16]
    error = np.abs(np.abs(near).argmax(axis=1) + r - 15 - (r - offsets))
    normal = rec.labels[is_beat] == ds.NORMAL
    assert error[normal].max() <= 1
    assert error[~normal].max() <= 3


def test_reference_declares_what_a_runtime_needs_and_inputs_match_it() -> None:
    meta = REFERENCE.meta
    assert meta["labels"] == ["normal", "ventricular", "other"]
    assert meta["sample_rate_hz"] == 250
    assert meta["lead"] == "II"
    assert meta["card"] == "MODEL_CARD.md"
    assert REFERENCE.card is not None
    assert REFERENCE.card.is_file()
    assert REFERENCE.inputs[0].name == "ecg"
    assert REFERENCE.inputs[0].shape == ("batch", 1, meta["window_samples"])
    assert REFERENCE.outputs[0].shape == ("batch", len(meta["labels"]))
    example = REFERENCE.example_inputs(0, 5)["ecg"]
    assert example.shape == (5, 1, meta["window_samples"])
    assert example.dtype == np.float32
    np.testing.assert_allclose(np.median(example, axis=-1), 0.0, atol=1e-6)
    clip = meta["normalisation"]["clip_mv"]
    assert clip == [-5.0, 5.0]
    assert example.min() >= clip[0]
    assert example.max() <= clip[1]
    batches = list(REFERENCE.calibration_inputs(0, 70))
    assert sum(len(b["ecg"]) for b in batches) == 70
    logits = torch_predict(REFERENCE.load())(batches[0])["logits"]
    assert logits.shape == (len(batches[0]["ecg"]), 3)


def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, vigil.models.ecg_beat as m; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert m.REFERENCE.name == 'ecg_beat'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
