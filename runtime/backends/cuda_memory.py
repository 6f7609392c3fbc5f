"""CUDA device memory, streams and copies behind one small interface (pycuda underneath).

UNVERIFIED: no CUDA device or pycuda exists on the development and CI machines, so this
module has never run. It is written against pycuda's documented driver API
(`pycuda.driver`: `init`, `Device.retain_primary_context`, `Context.push/pop`, `mem_alloc`,
`pagelocked_empty`, `Stream`, `memcpy_htod_async`, `memcpy_dtoh_async`). Run
`tests/test_tensorrt_backend.py` on a Jetson or GPU machine before trusting it.

Why an interface: the TensorRT backend needs only "allocate N bytes, give me a pointer, copy
host to device and back on a stream, wait". Keeping every CUDA call here means cuda-python
(NVIDIA's official bindings) can replace pycuda by writing one class, not by editing the
backend. Why the primary context: TensorRT and the ONNX Runtime CUDA provider both use the
CUDA runtime, which works in the device's primary context; sharing it avoids two contexts
fighting over one small Jetson GPU. pycuda makes a context current per thread, so every
operation runs inside `device.current()`, which pushes the context and pops it afterwards:
inference workers may call from a thread other than the one that activated the backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from vigil.runtime.backends.base import BackendError, BackendUnavailable


class DeviceBuffer(Protocol):
    """Device memory owned by the caller until `free`."""

    ptr: int  # device address, as TensorRT's set_tensor_address wants it
    nbytes: int

    def free(self) -> None: ...


class CudaStream(Protocol):
    handle: int  # the raw cudaStream_t, as execute_async_v3 wants it

    def synchronize(self) -> None: ...


class CudaDevice(Protocol):
    """What a backend needs from CUDA. `PycudaDevice` implements it."""

    name: str
    compute_capability: tuple[int, int]

    def current(self) -> Any:
        """Context manager: make this device's context current on the calling thread."""
        ...

    def alloc(self, nbytes: int) -> DeviceBuffer: ...

    def host_buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Page-locked host memory, so asynchronous copies really are asynchronous."""
        ...

    def stream(self) -> CudaStream: ...

    def copy_to_device(self, dst: DeviceBuffer, src: np.ndarray, stream: CudaStream) -> None: ...

    def copy_to_host(self, dst: np.ndarray, src: DeviceBuffer, stream: CudaStream) -> None: ...

    def close(self) -> None: ...


class _PycudaBuffer:
    def __init__(self, allocation: Any, nbytes: int) -> None:
        self._allocation = allocation
        self.ptr = int(allocation)
        self.nbytes = nbytes

    def free(self) -> None:
        if self._allocation is not None:
            self._allocation.free()
            self._allocation = None
            self.ptr = 0


class PycudaDevice:
    """One CUDA device through pycuda, using (and retaining) its primary context."""

    def __init__(self, ordinal: int = 0) -> None:
        try:
            import pycuda.driver as cuda
        except ImportError as exc:
            raise BackendUnavailable("tensorrt", f"pycuda not installed ({exc})") from exc
        try:
            cuda.init()
            count = cuda.Device.count()
        except cuda.Error as exc:
            raise BackendUnavailable("tensorrt", f"no CUDA driver or device ({exc})") from exc
        if count == 0:
            raise BackendUnavailable("tensorrt", "no CUDA device")
        if not 0 <= ordinal < count:
            raise BackendError(f"CUDA device {ordinal} does not exist (this machine has {count})")
        self._cuda = cuda
        self._device = cuda.Device(ordinal)
        self.name: str = self._device.name()
        major, minor = self._device.compute_capability()
        self.compute_capability = (int(major), int(minor))
        self._context = self._device.retain_primary_context()

    @contextmanager
    def current(self) -> Iterator[None]:
        self._context.push()
        try:
            yield
        finally:
            self._cuda.Context.pop()

    def alloc(self, nbytes: int) -> DeviceBuffer:
        # cuMemAlloc refuses 0 bytes; a zero-sized tensor still needs a valid address
        return _PycudaBuffer(self._cuda.mem_alloc(max(nbytes, 1)), nbytes)

    def host_buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self._cuda.pagelocked_empty(shape, dtype)

    def stream(self) -> CudaStream:
        return self._cuda.Stream()

    def copy_to_device(self, dst: DeviceBuffer, src: np.ndarray, stream: CudaStream) -> None:
        self._cuda.memcpy_htod_async(dst.ptr, src, stream)

    def copy_to_host(self, dst: np.ndarray, src: DeviceBuffer, stream: CudaStream) -> None:
        self._cuda.memcpy_dtoh_async(dst, src.ptr, stream)

    def close(self) -> None:
        if self._context is not None:
            self._context.detach()  # releases this retain of the primary context
            self._context = None


def open_device(ordinal: int = 0) -> CudaDevice:
    """The CUDA device the runtime uses; the one place that picks the CUDA binding."""
    return PycudaDevice(ordinal)


def gpu_facts(ordinal: int = 0) -> tuple[str, tuple[int, int]]:
    """(GPU name, compute capability), as the engine cache keys engines by them."""
    device = open_device(ordinal)
    try:
        return device.name, device.compute_capability
    finally:
        device.close()
