"""Step 3, `check_parity`: the ONNX file computes what the PyTorch module computes.

FP32 outputs must agree elementwise within |onnx - torch| <= atol + rtol * |torch| (1e-4
each by default: float32 reassociation stays far below it, a wrong op does not). Inputs are
random and real samples, at batch 1 and a larger batch, since a broken dynamic batch axis
shows only at a size other than the one traced. Reduced precision (INT8, FP16) is judged by
the main metric instead (see `quantize.py`): elementwise bounds mean little there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.export.errors import ParityError
from vigil.export.progress import Progress, quiet

ATOL = 1e-4
RTOL = 1e-4
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class OutputParity:
    """One output on one input case, at its worst element (largest error over its bound)."""

    case: str
    output: str
    worst_index: tuple[int, ...]
    abs_error: float
    rel_error: float  # |onnx - torch| / |torch| at the worst index (inf where torch is 0)
    torch_value: float
    onnx_value: float
    bound: float  # atol + rtol * |torch| at the worst index
    passed: bool

    def describe(self) -> str:
        return (
            f"output {self.output!r} ({self.case}) at index {list(self.worst_index)}: "
            f"torch {self.torch_value:.6g}, onnx {self.onnx_value:.6g}, "
            f"abs error {self.abs_error:.3g}, rel error {self.rel_error:.3g} "
            f"(bound {self.bound:.3g})"
        )


@dataclass(frozen=True)
class ParityReport:
    model: str
    atol: float
    rtol: float
    results: tuple[OutputParity, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[OutputParity, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def worst(self) -> OutputParity | None:
        """The result closest to (or furthest past) its bound."""
        if not self.results:
            return None
        return max(self.results, key=lambda r: r.abs_error / r.bound if r.bound else np.inf)

    @property
    def max_abs_error(self) -> float:
        return max((r.abs_error for r in self.results), default=0.0)

    def summary(self) -> str:
        worst = self.worst
        verdict = "passed" if self.passed else f"FAILED on {len(self.failures)} of"
        head = f"parity {verdict} {len(self.results)} output checks"
        return f"{head}; worst: {worst.describe()}" if worst else head

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the manifest's meta."""
        worst = self.worst
        return {
            "atol": self.atol,
            "rtol": self.rtol,
            "cases": sorted({r.case for r in self.results}),
            "max_abs_error": self.max_abs_error,
            "worst": None
            if worst is None
            else {"output": worst.output, "case": worst.case, "abs_error": worst.abs_error},
        }


def compare_outputs(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    *,
    case: str,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> list[OutputParity]:
    """Compare each reference output with the candidate's, elementwise.

    A missing output, a shape mismatch or a NaN in one but not the other fails with an
    infinite error, so the report never hides a structural difference behind a number.
    """
    results = []
    for name, ref in reference.items():
        b = np.asarray(ref, dtype=np.float64)
        if name not in candidate or np.shape(candidate[name]) != b.shape:
            got = "missing" if name not in candidate else f"shape {np.shape(candidate[name])}"
            results.append(
                OutputParity(
                    f"{case}; {got} vs {b.shape}",
                    name,
                    (),
                    np.inf,
                    np.inf,
                    float("nan"),
                    float("nan"),
                    atol,
                    False,
                )
            )
            continue
        a = np.asarray(candidate[name], dtype=np.float64)
        diff = np.abs(a - b)
        both_nan = np.isnan(a) & np.isnan(b)
        diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
        bound = atol + rtol * np.abs(np.nan_to_num(b, nan=0.0, posinf=0.0, neginf=0.0))
        if diff.size == 0:
            results.append(OutputParity(case, name, (), 0.0, 0.0, 0.0, 0.0, atol, True))
            continue
        ratio = diff / bound
        flat = int(np.argmax(ratio))
        index = tuple(int(i) for i in np.unravel_index(flat, b.shape))
        err = float(diff[index])
        ref_value = float(b[index])
        rel = 0.0 if err == 0.0 else err / abs(ref_value) if ref_value != 0.0 else float("inf")
        results.append(
            OutputParity(
                case,
                name,
                index,
                err,
                rel,
                ref_value,
                float(a[index]),
                float(bound[index]),
                bool(np.all(diff <= bound)),
            )
        )
    return results


def random_inputs(
    specs: Sequence[tuple[str, Sequence[int | str], str]], batch: int, seed: int
) -> Arrays:
    """Standard-normal float inputs (small integers for integer inputs) for `(name, shape,
    dtype)` specs whose axis 0 is the batch axis; other symbolic axes are not supported."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape, dtype in specs:
        rest = tuple(shape[1:])
        if not all(isinstance(d, int) for d in rest):
            raise ValueError(f"input {name}: only the batch axis may be symbolic, got {shape}")
        full = (batch, *rest)
        kind = np.dtype(dtype)
        if kind.kind == "f":
            out[name] = rng.standard_normal(full).astype(kind)
        else:
            out[name] = rng.integers(0, 2, size=full).astype(kind)
    return out


def check_parity(
    module: Any,
    onnx_path: str | Path,
    cases: Iterable[tuple[str, Mapping[str, np.ndarray]]],
    *,
    output_names: Sequence[str],
    model: str = "model",
    atol: float = ATOL,
    rtol: float = RTOL,
    progress: Progress | None = None,
    raise_on_failure: bool = True,
) -> ParityReport:
    """Run the module and an ONNX Runtime CPU session on every `(label, inputs)` case.

    Raises `ParityError` (carrying the report) when any output of any case is out of
    bounds, unless `raise_on_failure` is false.
    """
    from vigil.export.ort_predict import ort_predict
    from vigil.export.torch_backend import TorchBackend

    say = progress or quiet(model)
    predict = ort_predict(onnx_path)
    results: list[OutputParity] = []
    backend: TorchBackend | None = None
    for label, inputs in cases:
        if backend is None:
            backend = TorchBackend(module, list(inputs), output_names, model=model).activate()
        say(f"parity: {label}")
        expected = backend.infer(inputs)
        got = predict(inputs)
        results.extend(compare_outputs(expected, got, case=label, atol=atol, rtol=rtol))
    if backend is not None:
        backend.deactivate()
    report = ParityReport(model, atol, rtol, tuple(results))
    if raise_on_failure and not report.passed:
        lines = "; ".join(r.describe() for r in report.failures[:4])
        raise ParityError(
            f"{model}: ONNX Runtime's FP32 outputs differ from PyTorch's beyond "
            f"{atol:g} + {rtol:g}*|torch|: {lines}. The export is not faithful: the artifact "
            "was not written",
            report,
        )
    return report
