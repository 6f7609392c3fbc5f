"""Step 1, `load_weights`: a module with its weights, read without unpickling arbitrary data.

`.safetensors` files are read with safetensors; `.pt`/`.pth` state dicts with
`torch.load(weights_only=True)`, whose restricted unpickler refuses anything but tensors and
plain containers. Nothing else is accepted: a model file is untrusted input (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vigil.export.errors import ExportError

SAFETENSORS = (".safetensors",)
TORCH_STATE_DICT = (".pt", ".pth")


def read_state_dict(path: str | Path, *, model: str = "model") -> dict[str, Any]:
    """The tensors of a weights file, by name; `ExportError` names the file on any problem."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ExportError(f"{model}: weights file {path} does not exist")
    if suffix in SAFETENSORS:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except (SafetensorError, OSError) as exc:
            raise ExportError(f"{model}: cannot read {path} as safetensors: {exc}") from exc
    if suffix in TORCH_STATE_DICT:
        import pickle

        import torch

        try:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
            raise ExportError(
                f"{model}: {path} is not a plain state dict that loads with weights_only=True "
                f"(only tensors and containers are accepted, never pickled objects): {exc}"
            ) from exc
        if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
            loaded = loaded["state_dict"]  # the common {"state_dict": ..., "epoch": ...} form
        if not isinstance(loaded, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in loaded.values()
        ):
            raise ExportError(f"{model}: {path} does not hold a state dict of tensors")
        return dict(loaded)
    raise ExportError(
        f"{model}: {path}: unsupported weights format {suffix or '(no suffix)'!r}; use "
        ".safetensors, or a .pt/.pth state dict (weights only: no pickled modules)"
    )


def load_weights(
    module: Any, path: str | Path, *, model: str = "model", strict: bool = True
) -> Any:
    """`module` with the weights of `path` loaded, in eval mode.

    Strict by default: a missing or unexpected key means the weights belong to a different
    architecture, and exporting a half-initialised network would pass every check below.
    """
    state = read_state_dict(path, model=model)
    try:
        result = module.load_state_dict(state, strict=strict)
    except RuntimeError as exc:  # torch reports missing/unexpected keys and shape mismatches so
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:4])
        raise ExportError(
            f"{model}: the weights in {path} do not fit the module: {detail}"
        ) from exc
    del result
    return module.eval()
