"""Held-out evaluation, backend-agnostic: anything that maps {"vitals": x} to outputs.

Windows come from `data.eval_set` (EVAL ranges: patients, noise and cuff cycles the model
never trained or was calibrated on). AUROC separates normal from deteriorating windows
without a threshold; the rates at the shipped threshold say what the runtime will do.
"""

from __future__ import annotations

import numpy as np

from vigil.models.reference import Predict
from vigil.models.synthetic.trends import DETERIORATIONS
from vigil.models.vitals_ae.data import eval_set
from vigil.models.vitals_ae.metrics import auroc
from vigil.models.vitals_ae.scoring import score_from_reconstruction

BATCH = 256


def scores(predict: Predict, x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Scores of preprocessed windows `x`: the model's `score` output, or the documented rule
    applied to `reconstruction` for an artifact that only returns that."""
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i : i + batch]
        result = predict({"vitals": chunk})
        if "score" in result:
            out.append(np.asarray(result["score"], dtype=np.float64).reshape(len(chunk)))
        else:
            out.append(score_from_reconstruction(chunk, result["reconstruction"]))
    return np.concatenate(out)


def evaluate_at(predict: Predict, seed: int, threshold: float) -> dict[str, float]:
    """Metrics of `predict` on the held-out set of `seed`, alarms at `threshold`."""
    data = eval_set(seed)
    s = scores(predict, data.x)
    alarm = s > threshold
    positive = data.label == 1
    metrics = {
        "auroc": auroc(s, positive),
        "fpr_at_threshold": float(alarm[~positive].mean()),
        "tpr_at_threshold": float(alarm[positive].mean()),
    }
    for name in DETERIORATIONS:
        metrics[f"detection_{name}"] = float(alarm[data.pattern == name].mean())
    return metrics


def evaluate(predict: Predict, seed: int = 0) -> dict[str, float]:
    """The contract's evaluation: held-out metrics at the threshold shipped with the weights."""
    from vigil.models.vitals_ae import REFERENCE

    return evaluate_at(predict, seed, float(REFERENCE.meta["threshold"]))
