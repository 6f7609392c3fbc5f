"""PyTorch eager as a backend: the baseline the benchmarks compare against, and parity's
reference.

It has the runtime backends' interface (`activate`, `infer`, `deactivate`) so a benchmark
can time it beside ONNX Runtime and TensorRT with the same harness. It lives in `export/`
because the runtime never imports torch.

Buffer rule: `infer` returns new arrays on every call, which the caller owns and may keep;
it keeps no reference to the inputs. The thread count is fixed in `activate` (torch's
setting is process-wide, so it is restored in `deactivate`), making a comparison with
ONNX Runtime at the same thread count fair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vigil.export.errors import ExportError

Arrays = dict[str, np.ndarray]


def flatten_outputs(result: Any) -> list[Any]:
    """A forward()'s result as a list of tensors: a tensor, a tuple/list, or a dict's values."""
    if isinstance(result, Mapping):
        return list(result.values())
    if isinstance(result, (tuple, list)):
        return list(result)
    return [result]


class TorchBackend:
    """Runs an `nn.Module` in eval mode under `torch.inference_mode()`."""

    name = "pytorch"

    def __init__(
        self,
        module: Any,
        input_names: Sequence[str],
        output_names: Sequence[str],
        *,
        threads: int | None = None,
        model: str = "model",
    ) -> None:
        self.module = module
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.threads = threads
        self.model = model
        self._saved_threads: int | None = None
        self.active = False

    @classmethod
    def from_reference(cls, reference: Any, *, threads: int | None = None) -> TorchBackend:
        """A reference model's module with its shipped weights."""
        return cls(
            reference.load(),
            [t.name for t in reference.inputs],
            [t.name for t in reference.outputs],
            threads=threads,
            model=reference.name,
        )

    def activate(self) -> TorchBackend:
        import torch

        if self.threads:
            self._saved_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        self.module.eval()
        self.active = True
        return self

    def deactivate(self) -> None:
        import torch

        if self._saved_threads is not None:
            torch.set_num_threads(self._saved_threads)
            self._saved_threads = None
        self.active = False

    def __enter__(self) -> TorchBackend:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def infer(self, inputs: Mapping[str, np.ndarray]) -> Arrays:
        """Outputs by name for inputs by name (floating inputs are fed as float32)."""
        import torch

        args = []
        for name in self.input_names:
            if name not in inputs:
                raise ExportError(f"{self.model}: input {name!r} is missing")
            array = np.asarray(inputs[name])
            if array.dtype.kind == "f":
                array = array.astype(np.float32, copy=False)
            args.append(torch.from_numpy(np.ascontiguousarray(array)))
        with torch.inference_mode():
            outputs = flatten_outputs(self.module(*args))
        if len(outputs) != len(self.output_names):
            raise ExportError(
                f"{self.model}: forward() returned {len(outputs)} outputs, expected "
                f"{len(self.output_names)} ({', '.join(self.output_names)})"
            )
        return {
            name: out.detach().cpu().numpy().copy()
            for name, out in zip(self.output_names, outputs, strict=True)
        }
