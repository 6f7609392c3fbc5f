"""Weights load without unpickling anything but tensors, and the PyTorch baseline backend
speaks the runtime backends' dict-in, dict-out interface."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from user_models.tiny_net import TinyNet, build  # noqa: E402

from vigil.export.errors import ExportError  # noqa: E402
from vigil.export.torch_backend import TorchBackend  # noqa: E402
from vigil.export.weights import load_weights, read_state_dict  # noqa: E402


def test_safetensors_and_plain_pt_state_dicts_load(tmp_path):
    from safetensors.torch import save_file

    source = build()
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        loaded = load_weights(build(), tmp_path / name)
        assert not loaded.training
        for key, value in source.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value)


def test_a_pickled_module_is_refused_not_unpickled(tmp_path):
    torch.save(build(), tmp_path / "whole_module.pt")  # a pickled object, not a state dict
    with pytest.raises(ExportError, match="weights_only=True"):
        read_state_dict(tmp_path / "whole_module.pt", model="net")


def test_other_formats_and_missing_files_are_named(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ExportError, match=r"net: .*w\.bin: unsupported weights format '\.bin'"):
        read_state_dict(tmp_path / "w.bin", model="net")
    with pytest.raises(ExportError, match="does not exist"):
        read_state_dict(tmp_path / "none.safetensors", model="net")


def test_weights_of_another_architecture_are_refused_with_the_keys(tmp_path):
    torch.save({"conv.weight": torch.zeros(4, 1, 5)}, tmp_path / "w.pt")
    with pytest.raises(ExportError, match=r"net: the weights in .* do not fit.*Missing key"):
        load_weights(build(), tmp_path / "w.pt", model="net")


def test_torch_backend_maps_names_to_outputs_and_restores_the_thread_count():
    before = torch.get_num_threads()
    module = TinyNet()
    x = np.random.default_rng(0).standard_normal((3, 1, 16))  # float64 in, fed as float32
    with TorchBackend(module, ["signal"], ["logits", "features"], threads=1) as backend:
        assert torch.get_num_threads() == 1
        out = backend.infer({"signal": x})
        again = backend.infer({"signal": x})
    assert torch.get_num_threads() == before
    assert out["logits"].shape == (3, 2)
    assert out["features"].shape == (3, 4)
    assert out["logits"] is not again["logits"]  # fresh arrays: the caller may keep them
    with torch.inference_mode():
        expected = module(torch.from_numpy(x.astype(np.float32)))[0].numpy()
    np.testing.assert_allclose(out["logits"], expected, rtol=0, atol=0)
    with pytest.raises(ExportError, match="forward\\(\\) returned 2 outputs, expected 1"):
        TorchBackend(module, ["signal"], ["logits"]).infer({"signal": x})
