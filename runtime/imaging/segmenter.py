"""The ultrasound segmenter: a verified artifact on the backend interface, frames in, masks out.

`Segmenter.open(model_dir)` verifies the artifact (every file's sha256) and opens it on a
`FallbackBackend` over the preferred backends (TensorRT → ONNX Runtime CUDA → CPU by default),
as every other model of the runtime is opened: a backend that fails at run time hands the
same frames to the next one, and `take_degradations()` says so.

**Batching.** `segment(frames)` runs frames from several sources in one call when the model's
batch axis is dynamic (up to `max_batch` a call). One call per batch saves the per-call
overhead (input checks, the session's dispatch, on a GPU the launch and copies), which is
where batching pays; on a 2-core CPU the convolution cost per frame is about the same either
way, so batching only ever collects frames that are already waiting (latest frame wins): it
never waits for a batch to fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.runtime.imaging.frame import Frame
from vigil.runtime.imaging.preprocess import Box, ModelGeometry, prepare, to_mask

MODEL_NAME = "us_segmenter"
DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True, slots=True)
class SegmenterInfo:
    """What the summary says about the model."""

    model: str  # "us_segmenter 2.0.0"
    precision: str
    directory: str


class Segmenter:
    """Frames → boolean masks at each frame's own geometry (see the module docstring)."""

    def __init__(
        self,
        backend: Any,
        geometry: ModelGeometry,
        *,
        region: Box | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        info: SegmenterInfo | None = None,
    ) -> None:
        self.backend = backend
        self.geometry = geometry
        self.region = region
        self.max_batch = max(1, max_batch) if geometry.dynamic_batch else 1
        self.info = info or SegmenterInfo(MODEL_NAME, "fp32", "")
        self.calls = 0  # inference calls made (batches)

    @classmethod
    def open(
        cls,
        model_dir: Path | None = None,
        *,
        backends: Sequence[str] = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu"),
        precision: str = "fp32",
        intra_op_threads: int = 0,
        timeout_s: float | None = None,
        region: Box | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> Segmenter:
        """Verify and open the artifact (the shipped one when `model_dir` is None); raises a
        `VigilError` naming the directory and every backend's reason when it cannot run."""
        from vigil.artifacts import load_artifact
        from vigil.runtime.artifact_loader import shipped_artifact
        from vigil.runtime.backends.fallback import open_fallback

        directory = model_dir if model_dir is not None else shipped_artifact(MODEL_NAME)
        artifact = load_artifact(directory)
        geometry = ModelGeometry.from_manifest(artifact.manifest, str(directory))
        backend = open_fallback(
            artifact,
            precision=precision,
            prefer=tuple(backends),
            intra_op_threads=intra_op_threads,
            check_finite=False,  # inputs come from uint8 pixels: always finite
            timeout_s=timeout_s,
        )
        m = artifact.manifest
        info = SegmenterInfo(f"{m.name} {m.version}", precision, str(directory))
        return cls(backend, geometry, region=region, max_batch=max_batch, info=info)

    @property
    def backend_name(self) -> str:
        """The backend serving now (it changes if the model falls back)."""
        return str(getattr(self.backend, "name", type(self.backend).__name__))

    def segment(self, frames: Sequence[Frame]) -> list[np.ndarray]:
        """One bool mask (H, W) per frame, at the frame's geometry, in order."""
        masks: list[np.ndarray] = []
        for start in range(0, len(frames), self.max_batch):
            chunk = frames[start : start + self.max_batch]
            prepared = [
                prepare(
                    f.image,
                    self.geometry,
                    region=self.region,
                    spacing_region=f.spacing.region if f.spacing is not None else None,
                )
                for f in chunk
            ]
            # one frame (one source): a view with the batch axis, not a copy
            x = (
                prepared[0].tensor[None]
                if len(prepared) == 1
                else np.stack([p.tensor for p in prepared])
            )
            out = self.backend.infer({self.geometry.input_name: x})
            self.calls += 1
            logits = out[self.geometry.output_name]
            masks.extend(
                to_mask(z, p, self.geometry) for z, p in zip(logits, prepared, strict=True)
            )
        return masks

    def take_degradations(self) -> list[Any]:
        take = getattr(self.backend, "take_degradations", None)
        return take() if take is not None else []

    def close(self) -> None:
        self.backend.deactivate()
