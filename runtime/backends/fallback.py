"""A model that survives its backend: run on the preferred backend, fall back when it fails.

Issue 7: "an inference error or timeout at run time falls back to the next backend and raises
a technical alarm 'inference degraded'; if no model can run, rule-based detection goes on. A
model is never a single point of failure." `FallbackBackend` is itself a `Backend`, so the
detectors that hold one do not change how they call it:

    backend = open_fallback(artifact, prefer=("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu"))
    outputs = backend.infer({"ecg": x})        # TensorRT fails -> retried on CUDA, same inputs
    for d in backend.take_degradations():      # -> an `inference_degraded` condition
        ...

It holds an ordered list of *openers* (name, callable returning a backend), the same order
`select_backend` uses; an opener's name (the backend kind) is the name reports use.
`activate` opens them in turn until one activates; skipping those that cannot run here (no
TensorRT, no GPU) is selection, not degradation, and is only reported (`report()`). Once one
serves, a failure of its `infer` (any exception but `InputError`, or no result within
`timeout_s`) abandons it for good: the next opener is opened (lazily: a CPU session is not
built until it is needed) and the same inputs are run there. One `Degradation` is recorded
per call that had to leave a backend, naming where it came from, where it went (None:
nowhere left) and every failure on the way. When no opener is left, `infer` raises
`NoBackend` with every attempt's reason, and keeps raising it: the caller switches to its
rule-based path. A failed backend is not retried while the process runs: a
model flapping between backends would make its alarms flap too.

`InputError` is the caller's fault (wrong name, dtype, shape, a NaN), not the backend's: it
is re-raised unchanged and does not move the model to another backend.

**Timeouts.** With `timeout_s` set, each call runs on one worker thread (a daemon, so a hung
call cannot keep the process from exiting) and the caller waits at most `timeout_s`; ONNX
Runtime and TensorRT release the GIL while they run, so a hung native call does not stall
the caller's wait, and the hand-off costs tens of microseconds.
A call that times out is abandoned, not killed (Python cannot kill a thread): its backend is
deactivated when the call finally returns, and its worker then exits. Without `timeout_s`
calls run on the caller's thread. Opening and activating a backend are not timed (a TensorRT
engine takes seconds to deserialise; that is not a failure).

**Buffer rule** (base.py). Outputs are those of the backend that answered, which are fresh
arrays the caller keeps. Inputs are only read during the call, as base.py requires, with one
addition: with `timeout_s` set the inputs are copied before the worker sees them, because an
abandoned call may still be reading them after `infer` has returned (retried elsewhere) and
the caller is free to overwrite its buffers by then.

Not thread-safe: one caller (a bed's processing loop) owns an instance.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.artifacts import Artifact
from vigil.runtime.artifact_loader import ModelFile, VariantNotFound, choose_variant
from vigil.runtime.backends.base import Backend, BackendError, BackendUnavailable, InputError
from vigil.runtime.backends.select import (
    DEFAULT_PREFERENCE,
    Attempt,
    EngineLookup,
    NoBackend,
    open_backend,
)

log = logging.getLogger(__name__)

Opener = tuple[str, Callable[[], Backend]]
_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Degradation:
    """A model left `from_backend` at run time for `to_backend` (None: no backend left)."""

    model: str
    from_backend: str
    to_backend: str | None
    reason: str  # every failure on the way, "name: why; name: why"
    at_ns: int  # host monotonic time it was decided


class InferenceTimeout(BackendError):
    """A backend gave no result within the fallback's `timeout_s`."""


class FallbackBackend:
    """One model over an ordered list of backends (see the module docstring)."""

    def __init__(
        self,
        model: str,
        openers: Sequence[Opener],
        *,
        timeout_s: float | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if not openers:
            raise BackendError(f"{model}: a fallback backend needs at least one opener")
        if timeout_s is not None and not timeout_s > 0:
            raise BackendError(f"{model}: timeout_s must be positive or None, not {timeout_s}")
        self.model = model
        self.timeout_s = timeout_s
        self._openers = list(openers)
        self._next = 0  # the next opener to try
        self._clock = clock_ns
        self._current: Backend | None = None
        self._current_name: str | None = None
        self._io: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._worker: _Worker | None = None
        self._attempts: list[Attempt] = []
        self._degradations: list[Degradation] = []

    # -- the Backend protocol -----------------------------------------------------------------
    @property
    def name(self) -> str:
        """The backend now serving ("none" once every backend has failed)."""
        return self._current_name or ("none" if self.exhausted else "not activated")

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._io[0]

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._io[1]

    @property
    def active(self) -> bool:
        return self._current is not None and self._current.active

    @property
    def exhausted(self) -> bool:
        """Every opener has been tried and none serves: `infer` raises `NoBackend`."""
        return self._current is None and self._next >= len(self._openers)

    def activate(self) -> None:
        """Activate the current backend, or open the first that runs here; `NoBackend`
        (every candidate's reason) if none does."""
        if self._current is not None:
            if self._current.active:
                return
            try:
                self._current.activate()
                return
            except Exception as exc:  # re-activation failed: the next one takes over
                start, failures = self.name, []
                self._fail(start, f"failed to re-activate: {_why(exc)}", failures)
                self._drop_current()
                try:
                    self._open_next(failures)
                finally:
                    self._degrade(start, failures)
                return
        self._open_next([])

    def deactivate(self) -> None:
        if self._current is not None:
            self._current.deactivate()

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on the current backend; on its failure, on the next (module docstring)."""
        if self._current is None:
            if self.exhausted:
                raise self._no_backend()
            raise BackendError(f"{self.model}: infer() before activate()")
        if self.timeout_s is not None:  # an abandoned call may read them after we return
            inputs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
        start = self.name
        failures: list[Attempt] = []
        while True:
            backend = self._current
            assert backend is not None
            try:
                outputs = self._call(backend, inputs)
            except InputError:
                self._degrade(start, failures)
                raise
            except Exception as exc:  # anything from the backend's run: its failure
                self._fail(self.name, f"failed at run time: {_why(exc)}", failures)
                log.error("%s: inference on %s failed: %s", self.model, self.name, _why(exc))
                self._drop_current(abandoned=isinstance(exc, InferenceTimeout))
                try:
                    self._open_next(failures)
                except NoBackend:
                    self._degrade(start, failures)
                    raise
                continue
            self._degrade(start, failures)
            return outputs

    # -- reports ------------------------------------------------------------------------------
    def take_degradations(self) -> list[Degradation]:
        """Degradations since the last call (each returned once)."""
        out, self._degradations = self._degradations, []
        return out

    def report(self) -> str:
        """Every candidate tried so far and what became of it, one line each."""
        return "\n".join(a.line() for a in self._attempts)

    def __repr__(self) -> str:
        return f"FallbackBackend({self.model!r}, serving={self.name!r})"

    # -- internals ----------------------------------------------------------------------------
    def _call(self, backend: Backend, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.timeout_s is None:
            return backend.infer(inputs)
        if self._worker is None:
            self._worker = _Worker(f"infer {self.model} {self.name}")
        future = self._worker.submit(backend.infer, inputs)
        try:
            return future.result(timeout=self.timeout_s)
        except TimeoutError:
            if future.done():  # the backend itself raised TimeoutError: an ordinary failure
                raise
            # The call is still running: deactivate its backend when it returns, not now
            # (freeing a session under a running call is undefined behaviour).
            future.add_done_callback(lambda _: _quietly_deactivate(backend))
            raise InferenceTimeout(
                f"{self.name}: no result within {self.timeout_s:g} s for {self.model}"
            ) from None

    def _drop_current(self, *, abandoned: bool = False) -> None:
        backend, self._current, self._current_name = self._current, None, None
        if self._worker is not None:
            self._worker.close()  # an abandoned call finishes on it, then the thread exits
            self._worker = None
        if backend is not None and not abandoned:
            _quietly_deactivate(backend)

    def _open_next(self, failures: list[Attempt]) -> None:
        """Open openers from `_next` on until one activates; appends each failure."""
        while self._next < len(self._openers):
            name, opener = self._openers[self._next]
            self._next += 1
            try:
                backend = opener()
                backend.activate()
            except BackendUnavailable as exc:
                self._fail(name, exc.reason, failures)
                continue
            except Exception as exc:  # a backend that cannot open is one more failure
                self._fail(name, f"failed: {_why(exc)}", failures)
                continue
            self._current, self._current_name = backend, name
            self._io = (tuple(backend.input_names), tuple(backend.output_names))
            self._attempts.append(Attempt(name, True, "serving"))
            log.info("%s: running on %s", self.model, self._current_name)
            return
        raise self._no_backend()

    def _fail(self, name: str, reason: str, failures: list[Attempt]) -> None:
        attempt = Attempt(name, False, reason)
        self._attempts.append(attempt)
        failures.append(attempt)

    def _degrade(self, start: str, failures: list[Attempt]) -> None:
        """Record one degradation if this call (or re-activation) had to leave `start`: its
        failures then begin with that backend's own."""
        if not failures:
            return
        reason = "; ".join(f"{f.backend}: {f.reason}" for f in failures)
        d = Degradation(self.model, start, self._current_name, reason, self._clock())
        self._degradations.append(d)
        log.error(
            "%s: inference degraded from %s to %s (%s)",
            self.model,
            start,
            d.to_backend or "no backend: rule-based path",
            reason,
        )

    def _no_backend(self) -> NoBackend:
        report = self.report()
        return NoBackend(
            f"no backend can run {self.model}; the rule-based path must decide:\n" + report,
            tuple(self._attempts),
        )


def open_fallback(
    artifact: Artifact,
    *,
    precision: str = "fp32",
    prefer: Sequence[str] = DEFAULT_PREFERENCE,
    engine_lookup: EngineLookup | None = None,
    intra_op_threads: int = 0,
    device: int = 0,
    check_finite: bool = True,
    timeout_s: float | None = None,
    activate: bool = True,
) -> FallbackBackend:
    """A `FallbackBackend` over `artifact` with one opener per kind in `prefer` (the order
    `select_backend` uses), activated: the first that runs here serves. Raises `NoBackend`
    (every candidate's reason) if none does."""
    name = artifact.manifest.name

    def opener(kind: str) -> Callable[[], Backend]:
        def open_kind() -> Backend:
            try:
                model_file: ModelFile = choose_variant(artifact, kind, precision)
            except VariantNotFound:
                raise BackendUnavailable(
                    kind, f"the artifact has no {precision} file for it"
                ) from None
            return open_backend(
                kind,
                model_file,
                engine_lookup=engine_lookup,
                intra_op_threads=intra_op_threads,
                device=device,
                check_finite=check_finite,
            )

        return open_kind

    backend = FallbackBackend(name, [(k, opener(k)) for k in prefer], timeout_s=timeout_s)
    if activate:
        try:
            backend.activate()
        except NoBackend as exc:
            raise NoBackend(
                f"no backend can run {name} ({artifact.directory}) at {precision}:\n"
                + backend.report(),
                exc.attempts,
            ) from None
        log.info("backend for %s: %s\n%s", name, backend.name, backend.report())
    return backend


class _Worker:
    """One daemon thread that runs calls in order. Closing it lets a running (abandoned)
    call finish and then ends the thread; nothing waits for it."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((future, fn, args))
        return future

    def close(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the waiting caller, which decides
                future.set_exception(exc)


def _why(exc: BaseException) -> str:
    """A failure's reason: the message of Vigil's errors, the type too for anything else."""
    if isinstance(exc, BackendUnavailable):
        return exc.reason
    if isinstance(exc, BackendError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _quietly_deactivate(backend: Backend) -> None:
    try:
        backend.deactivate()
    except Exception as exc:  # it has already failed; freeing it must not fail the caller
        log.warning("deactivating a failed backend raised %s", _why(exc))
