"""The ultrasound segmenter reference model: shipped weights, card, training, contract."""

import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from vigil.models.synthetic.ultrasound import EVAL_RANGES, TRAIN_RANGES  # noqa: E402
from vigil.models.us_segmenter import REFERENCE  # noqa: E402
from vigil.models.us_segmenter.dataset import (  # noqa: E402
    CALIBRATION_SEED_OFFSET,
    EVAL_SEED_OFFSET,
    eval_set,
    training_pool,
)
from vigil.models.us_segmenter.evaluate import evaluate  # noqa: E402
from vigil.models.us_segmenter.train import torch_predict, train  # noqa: E402

DICE_FLOOR = 0.85  # held-out global Dice the shipped weights must reach (card: measured)


def _card_metrics() -> dict[str, float]:
    text = REFERENCE.card.read_text(encoding="utf-8")
    block = re.search(r"<!-- metrics:begin -->(.*?)<!-- metrics:end -->", text, re.S)
    assert block, "MODEL_CARD.md has no metrics block"
    rows = re.findall(r"^\|\s*([a-z_]+)\s*\|\s*([0-9.]+)\s*\|\s*$", block.group(1), re.M)
    return {name: float(value) for name, value in rows}


def test_importing_the_package_does_not_import_torch():
    code = (
        "import sys, vigil.models.us_segmenter as m; m.REFERENCE; sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_shipped_weights_reach_the_card_metrics_on_held_out_phantoms():
    weights = REFERENCE.weights
    assert weights.suffix == ".safetensors"
    assert weights.stat().st_size < 10 * 2**20  # "a few MB at most"
    metrics = evaluate(torch_predict(REFERENCE.load()), 0)
    card = _card_metrics()
    assert set(card) >= {"dice", "iou", "pixel_accuracy"}
    for name in ("dice", "iou", "pixel_accuracy"):
        assert metrics[name] == pytest.approx(card[name], abs=0.01), name
    assert metrics["dice"] >= DICE_FLOOR


def test_evaluation_scores_a_perfect_and_an_empty_prediction_correctly():
    images, masks = eval_set(0, 16)
    batches = iter(range(0, 16, 8))

    def oracle(inputs):
        start = next(batches)
        np.testing.assert_array_equal(inputs["image"][:, 0], images[start : start + 8])
        return {"logits": np.where(masks[start : start + 8, None] > 0, 9.0, -9.0)}

    perfect = evaluate(oracle, 0, 16)
    assert perfect["dice"] == perfect["iou"] == perfect["pixel_accuracy"] == 1.0
    empty = evaluate(lambda x: {"logits": np.full_like(x["image"], -9.0)}, 0, 16)
    assert empty["dice"] == empty["iou"] == 0.0
    assert 0.5 < empty["pixel_accuracy"] < 1.0  # background dominates the fan


def test_a_short_training_run_writes_loadable_safetensors(tmp_path):
    out = tmp_path / "w.safetensors"
    torch.manual_seed(0)
    metrics = train(out, seed=1, progress=False, max_steps=2, eval_frames=8)
    assert {"dice", "iou", "pixel_accuracy", "train_loss", "train_seconds"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    state = safetensors_torch.load_file(str(out))
    model = REFERENCE.build()
    model.load_state_dict(state)  # strict: every key, every shape
    raw = out.read_bytes()
    assert raw[8:9] == b"{"  # safetensors: 8-byte header length, then a JSON header


def test_model_is_fully_convolutional_and_keeps_the_frame_size():
    model = REFERENCE.load()
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    with torch.inference_mode():
        for shape in ((1, 1, 256, 256), (2, 1, 128, 192)):
            assert tuple(model(torch.zeros(shape)).shape) == shape
    assert REFERENCE.inputs[0].shape == ("batch", 1, 256, 256)
    assert REFERENCE.outputs[0].shape == ("batch", 1, 256, 256)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 1, 256, 240))  # a stride-4 stem and three poolings: 32


def test_reference_contract_inputs_and_meta():
    assert REFERENCE.name == "us_segmenter"
    assert REFERENCE.main_metric == "dice"
    assert REFERENCE.meta["labels"] == ["background", "anechoic"]
    assert 0.0 < REFERENCE.meta["threshold"] < 1.0
    assert REFERENCE.meta["image_size"] == [256, 256]
    x = REFERENCE.example_inputs(0, 2)["image"]
    assert x.shape == (2, 1, 256, 256)
    assert x.dtype == np.float32
    assert 0.0 <= x.min() < x.max() <= 1.0
    batches = list(REFERENCE.calibration_inputs(0, 3))
    assert len(batches) == 3
    assert all(b["image"].shape == (1, 1, 256, 256) for b in batches)


def test_training_and_evaluation_use_different_ranges_and_seeds():
    assert TRAIN_RANGES != EVAL_RANGES
    assert len({0, EVAL_SEED_OFFSET, CALIBRATION_SEED_OFFSET}) == 3
    train_images, _ = training_pool(0, 2)
    eval_images, _ = eval_set(0, 2)
    assert not np.array_equal(train_images, eval_images)
