"""Execution backends: where a model's arithmetic runs (PyTorch eager, OpenVINO, ONNX
Runtime), the choice between them, and the on-disk cache of converted models.

- :mod:`.choice`: the names, which is installed, what ``auto`` means on this machine.
- :mod:`.cache`: converted models on disk, keyed by the weights' sha256, the entry
  point, the input shapes, the backend and its version; written atomically, one
  conversion per machine (a file lock serialises workers that start together).
- :mod:`.engines`: :func:`compile_module` turns a ``torch.nn.Module`` into an
  :class:`Engine` (NumPy arrays in, NumPy arrays out) on the chosen backend, falling
  back to PyTorch with one warning when the conversion fails.

Why by hand: OpenVINO and ONNX Runtime convert and run a module, but neither caches the
converted file by the weights' content nor falls back; Ultralytics does both for its own
detectors only (the detector uses its exporter, :mod:`demo.pose2d.detect`).
"""
from __future__ import annotations

from .cache import ConversionCache, conversion_cache
from .choice import BACKENDS, backend_version, check_backend, installed, resolve_backend
from .engines import Engine, ExportSpec, TorchEngine, compile_module

__all__ = [
    "BACKENDS",
    "ConversionCache",
    "Engine",
    "ExportSpec",
    "TorchEngine",
    "backend_version",
    "check_backend",
    "compile_module",
    "conversion_cache",
    "installed",
    "resolve_backend",
]
