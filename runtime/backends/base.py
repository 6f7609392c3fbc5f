"""The one interface every inference backend implements, and the input checks they share.

A backend runs one model file. The runtime talks to every backend the same way, so the
batcher, the benchmarks and the tests never care whether ONNX Runtime or TensorRT is
underneath:

    backend.activate()                      # allocate, load onto the device, warm up
    outputs = backend.infer({"ecg": x})     # dict of named arrays in, dict out
    backend.deactivate()                    # give device memory back

**Buffer rule.** The arrays `infer` returns belong to the caller: a backend copies its
results out and never hands out a view of a buffer it reuses, so a result kept from one call
is never overwritten by the next. The arrays passed *in* are only read, and only during the
call; a backend may not keep a reference to them.

**Bad input is refused, not guessed at.** `check_inputs` refuses (with `InputError`, naming
the tensor and what was expected) a missing or unexpected input name, a dtype other than the
model's (no silent casts: float64 → float32 would hide a caller's bug), a wrong rank or fixed
dimension, inconsistent sizes of a named axis shared by several inputs (the batch), and — by
default — NaN or infinite values. A NaN fed to a network comes out as NaN logits or, worse,
as a plausible-looking class; on a monitor that is a silent model failure. Signal gaps are
the stream state's business (DESIGN.md, "No silent loss"), so a non-finite value reaching a
backend is a bug upstream and is reported as one. Backends accept `check_finite=False` for
callers that guarantee finiteness and want to skip the scan (it costs ~20 µs per 64 k values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from vigil.errors import VigilError

Shape = tuple[int | str | None, ...]  # an int is fixed; a str or None is a dynamic axis


class BackendError(VigilError):
    """A backend cannot load its model or run it."""


class InputError(BackendError):
    """`infer` was given inputs that do not fit the model; the message says which and why."""


class BackendUnavailable(BackendError):
    """A backend cannot run on this machine at all (library missing, no GPU, no engine).

    `reason` is short and human-readable ("tensorrt not installed", "no CUDA device"), so
    backend selection can report why each candidate was skipped.
    """

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"{backend} is unavailable: {reason}")
        self.backend = backend
        self.reason = reason


@runtime_checkable
class Backend(Protocol):
    """What the runtime needs from an inference backend (see the module docstring)."""

    name: str  # "onnxruntime-cpu", "onnxruntime-cuda", "onnxruntime-tensorrt", "tensorrt"

    @property
    def input_names(self) -> tuple[str, ...]: ...

    @property
    def output_names(self) -> tuple[str, ...]: ...

    @property
    def active(self) -> bool: ...

    def activate(self) -> None:
        """Allocate what inference needs and run once, so the first real call is not slow.

        Idempotent. After it returns, `infer` may be called."""
        ...

    def deactivate(self) -> None:
        """Free device memory and sessions; idempotent. `activate` may be called again."""
        ...

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model; returns fresh arrays the caller keeps (the buffer rule)."""
        ...


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output as the backend sees it: name, shape (ints fixed, names or
    None dynamic) and numpy dtype."""

    name: str
    shape: Shape
    dtype: np.dtype

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype.name}[{dims}]"


def check_inputs(
    backend: str,
    specs: Sequence[TensorSpec],
    inputs: Mapping[str, np.ndarray],
    *,
    check_finite: bool = True,
) -> dict[str, np.ndarray]:
    """Validate `inputs` against `specs`; returns them as C-contiguous arrays.

    Raises `InputError` whose message names the backend, the tensor and what was expected.
    """
    expected = {s.name for s in specs}
    given = set(inputs)
    if given != expected:
        parts = []
        if missing := sorted(expected - given):
            parts.append(f"missing {', '.join(missing)}")
        if extra := sorted(given - expected):
            parts.append(f"unexpected {', '.join(extra)}")
        wanted = "; ".join(s.describe() for s in specs)
        raise InputError(f"{backend}: wrong input names ({', '.join(parts)}); expected {wanted}")
    named: dict[str, tuple[int, str]] = {}  # axis name -> (size, tensor that fixed it)
    out = {}
    for spec in specs:
        array = inputs[spec.name]
        if not isinstance(array, np.ndarray):
            raise InputError(
                f"{backend}: input {spec.name} must be a numpy array, "
                f"not {type(array).__name__}; expected {spec.describe()}"
            )
        if array.dtype != spec.dtype:
            raise InputError(
                f"{backend}: input {spec.name} has dtype {array.dtype.name}, the model takes "
                f"{spec.dtype.name} (convert it explicitly, e.g. x.astype(np.{spec.dtype.name}))"
            )
        if array.ndim != len(spec.shape):
            raise InputError(
                f"{backend}: input {spec.name} has shape {list(array.shape)} (rank "
                f"{array.ndim}); expected rank {len(spec.shape)}: {spec.describe()}"
            )
        for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
            if isinstance(want, int) and want >= 0 and want != got:
                raise InputError(
                    f"{backend}: input {spec.name} has shape {list(array.shape)}; axis {axis} "
                    f"must be {want}: expected {spec.describe()}"
                )
            if isinstance(want, str):
                size, first = named.setdefault(want, (got, spec.name))
                if size != got:
                    raise InputError(
                        f"{backend}: axis {want!r} is {got} in input {spec.name} but {size} "
                        f"in {first}; inputs sharing an axis name must agree"
                    )
            if got == 0:
                raise InputError(f"{backend}: input {spec.name} is empty (axis {axis} is 0)")
        if check_finite and array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = np.flatnonzero(~np.isfinite(array.reshape(-1)))
            first_index = tuple(int(i) for i in np.unravel_index(bad[0], array.shape))
            raise InputError(
                f"{backend}: input {spec.name} holds {bad.size} non-finite value(s) "
                f"(NaN or inf), first at index {first_index}; the model would return "
                "meaningless output. Fix or mask the gap upstream"
            )
        out[spec.name] = np.ascontiguousarray(array)
    return out
