"""Shipped, exported reference artifacts (ONNX + manifest.json per model). Data only: this
package imports nothing, so the torch-free runtime may read it."""
