"""Every TensorRT attribute Vigil's code calls exists in the installed TensorRT.

The TensorRT code is unverified on machines without TensorRT; this is the cheapest check
that it at least speaks the installed version's API. It needs `tensorrt` to import, not a
GPU, and skips with one line where TensorRT is absent.
"""

from __future__ import annotations

import pytest

from vigil.export import tensorrt_build
from vigil.runtime.backends import tensorrt_backend

trt = pytest.importorskip("tensorrt", reason="tensorrt not installed: API check skipped")

pytestmark = pytest.mark.gpu


def missing(names: tuple[str, ...]) -> list[str]:
    absent = []
    for dotted in names:
        obj = trt
        for part in dotted.split("."):
            if not hasattr(obj, part):
                absent.append(dotted)
                break
            obj = getattr(obj, part)
    return absent


def test_runtime_backend_calls_exist():
    assert missing(tensorrt_backend.API) == []


def test_builder_calls_for_this_api_generation_exist():
    generation = tensorrt_build.api_generation(trt)
    extra = (
        tensorrt_build.API_WEAK
        if generation is tensorrt_build.Generation.WEAK_TYPING
        else tensorrt_build.API_STRONG
    )
    assert missing(tensorrt_build.API_COMMON + extra) == [], generation.value
