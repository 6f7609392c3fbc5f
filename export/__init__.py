"""vigil.export: PyTorch models to verified artifacts the torch-free runtime can load.

The chain is a row of small steps, each usable and testable alone, each importing its heavy
dependencies (torch, onnx, onnxruntime's quantizer, tensorrt) only when called:

    weights.load_weights      .safetensors or a .pt state dict, never an arbitrary pickle
    onnx_export.to_onnx       dynamo exporter, opset 18, named I/O, dynamic batch, full check
    parity.check_parity       ONNX Runtime vs PyTorch, |a-b| <= 1e-4 + 1e-4*|b|, a report
    quantize.quantize_int8    QDQ INT8 (TensorRT symmetric / CPU U8S8) or dynamic, judged
                              by the main metric; > 1 point lost is refused unless forced
    tensorrt_build            TensorRT engines (on the target; unverified off it)
    artifact_writer.write_artifact   files + manifest.json with sha256s, read back verified

`pipeline.export_reference` and `pipeline.export_module` compose them for a reference
model and for a user's own module; `cli` wires them to `vigil export` and `vigil train`.
`torch_backend.TorchBackend` is PyTorch eager behind the runtime backends' interface, the
baseline benchmarks compare against. Importing this package imports nothing heavy.
"""
