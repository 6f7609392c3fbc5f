"""How every model of the analysis is opened and watched at run time.

The beat classifier, the trend autoencoder and the bring-your-own detectors share this: an
artifact is verified (every file's sha256) and opened on a `FallbackBackend` over
`ModelSettings.backends` (runtime/backends/fallback.py); a model that cannot be opened is a
technical `model_unavailable` condition, and one whose backends fail or time out at run time
is an `inference_degraded` condition that names the backend serving now, or the rule-based
path that decides once none is left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.artifacts import Artifact, load_artifact
from vigil.runtime.analysis.condition import Condition, condition, ended
from vigil.runtime.analysis.settings import ModelSettings


@dataclass(frozen=True)
class LoadedModel:
    """A verified artifact and its activated backend (a `FallbackBackend`)."""

    artifact: Artifact
    backend: Any  # vigil.runtime.backends.base.Backend

    @property
    def description(self) -> str:
        """Model, version and the backend serving now ("vitals_ae 1.0.0 onnxruntime-cpu");
        it changes when the model falls back to another backend."""
        m = self.artifact.manifest
        return f"{m.name} {m.version} {getattr(self.backend, 'name', 'backend')}"


def open_backend(artifact: Artifact, models: ModelSettings) -> Any:
    """A `FallbackBackend` over `models.backends` for a verified artifact, activated on the
    first that runs here; raises `NoBackend` (a `VigilError`) with every reason if none does.
    `models.inference_timeout_s` bounds each call."""
    from vigil.runtime.backends.fallback import open_fallback

    return open_fallback(
        artifact,
        precision=models.precision,
        prefer=models.backends,
        intra_op_threads=models.intra_op_threads,
        timeout_s=models.inference_timeout_s,
    )


def load_model(path: Path, models: ModelSettings) -> LoadedModel:
    """Verify the artifact at `path` and open the first backend of `models.backends` that runs
    it here; raises a `VigilError` that names what failed."""
    artifact = load_artifact(path)
    return LoadedModel(artifact, open_backend(artifact, models))


class DegradedAlarm:
    """`inference_degraded` of one model of one bed, from its backend's degradations.

    Starts at the first degradation, with evidence saying which model, from which backend to
    which (None: none left), why, and what decides now (`fallback` when no backend is left:
    the rule-based path, or nothing). A further degradation ends it and starts it again with
    the new evidence, so an active condition always names the backend serving. It does not end
    otherwise: a failed backend is not tried again while the process runs.
    """

    def __init__(self, bed: str, key: str, fallback: str) -> None:
        self.bed = bed
        self.key = key
        self.fallback = fallback
        self.active: Condition | None = None

    def update(self, backend: Any, t_s: float, decided_at_s: float) -> list[Condition]:
        """Conditions for the degradations `backend` recorded since the last call."""
        take = getattr(backend, "take_degradations", None)
        if take is None:
            return []
        out: list[Condition] = []
        for d in take():
            now_ns = time.monotonic_ns()
            if self.active is not None:
                out.append(
                    ended(
                        self.active,
                        t_s,
                        evidence={"ended_by": "degraded again"},
                        decided_at_s=decided_at_s,
                        decided_ns=now_ns,
                    )
                )
            evidence = {
                "model": d.model,
                "from": d.from_backend,
                "to": d.to_backend,
                "reason": d.reason,
                "decides_now": d.to_backend or self.fallback,
            }
            self.active = condition(
                "inference_degraded",
                self.bed,
                t_s,
                key=self.key,
                evidence=evidence,
                decided_at_s=decided_at_s,
                decided_ns=now_ns,
            )
            out.append(self.active)
        return out


def model_unavailable(bed: str, key: str, path: Path, error: str, t_s: float) -> Condition:
    return condition(
        "model_unavailable",
        bed,
        t_s,
        key=key,
        evidence={"model": key, "path": str(path), "error": error},
        decided_at_s=t_s,
        decided_ns=time.monotonic_ns(),
    )
