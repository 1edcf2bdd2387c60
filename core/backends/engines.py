"""A model on a backend: :func:`compile_module` turns a ``torch.nn.Module`` into an
:class:`Engine`, a callable from NumPy arrays to a tuple of NumPy arrays.

- ``torch``: the module itself, under ``inference_mode`` and the run's autocast, inputs
  moved to its device (:class:`TorchEngine`).
- ``openvino``: the module exported to ONNX as below, converted by
  ``openvino.convert_model`` and saved as IR without fp16 compression, compiled for
  the CPU with ``INFERENCE_NUM_THREADS`` = the run's threads and f32 inference precision
  (so the numbers equal PyTorch's; on CPUs with AMX OpenVINO would otherwise pick bf16).
- ``onnxruntime``: ``torch.onnx.export`` (the TorchScript exporter: it converts every
  model here in about a second, the dynamo exporter took 5-40 times longer for the same
  graph), batch axis dynamic, run by a CPU session with ``intra_op_num_threads`` = the
  run's threads and no spin-waiting (the decoding thread needs the core back).

Every model goes through the same check in the tests: its raw outputs on each backend
equal PyTorch's on the shared fixtures to 1e-4.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..errors import brief
from .cache import ConversionCache, conversion_cache
from .choice import backend_version

log = logging.getLogger(__name__)

#: The weights identity of a model built from a config with random weights: never cached.
UNREPEATABLE = "random-weights"  # the same marker as demo.cache.weights_identity
_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}


class Engine(Protocol):
    """A model on a backend: ``engine(*inputs) -> outputs``, NumPy in and out, batch first."""

    backend: str

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]: ...


@dataclass(frozen=True)
class ExportSpec:
    """What to convert and how it is identified in the cache.

    Attributes:
        label: readable name of the model and entry point (``hrnet``, ``stcformer-centre``).
        weights: sha256 of the weights file (``UNREPEATABLE``: convert, never cache).
        examples: one example tensor per input, batch first; every input's and output's
            dimension 0 is dynamic, the others are fixed at these shapes.
        outputs: how many outputs the module returns (a tensor or a tuple of tensors).
    """

    label: str
    weights: str
    examples: tuple[torch.Tensor, ...]
    outputs: int = 1

    def key(self, backend: str) -> dict[str, Any]:
        return {
            "model": self.label,
            "weights": self.weights,
            "inputs": [[*map(int, e.shape[1:]), str(e.dtype)] for e in self.examples],
            "dynamic": "batch",
            "backend": backend,
            "backend_version": backend_version(backend),
            "torch": torch.__version__,
        }


class TorchEngine:
    """The module in PyTorch eager: inputs to ``device``, autocast in ``precision``."""

    backend = "torch"

    def __init__(self, module: torch.nn.Module, device: torch.device | str = "cpu", precision: str = "fp32") -> None:
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.dtype = _AUTOCAST.get(precision)
        if self.dtype is not None and self.device.type == "cpu" and precision == "fp16":
            raise ValueError("fp16 autocast needs a CUDA device")

    @torch.inference_mode()
    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        tensors = []
        for a in inputs:
            t = torch.from_numpy(np.ascontiguousarray(a))
            if self.device.type == "cuda":
                t = t.pin_memory().to(self.device, non_blocking=True)
            tensors.append(t)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            out = self.module(*tensors)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return tuple(o.float().cpu().numpy() for o in outs)


class OpenVINOEngine:
    """A compiled OpenVINO model (CPU)."""

    backend = "openvino"

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        result = self.request.infer([np.ascontiguousarray(a) for a in inputs])
        # The request reuses its output buffers on the next call: copy them out.
        return tuple(np.array(result[o]) for o in self.compiled.outputs)

    @property
    def threads(self) -> int:
        return int(self.compiled.get_property("INFERENCE_NUM_THREADS"))


class OnnxRuntimeEngine:
    """An ONNX Runtime CPU session."""

    backend = "onnxruntime"

    def __init__(self, session: Any) -> None:
        self.session = session
        self.names = [i.name for i in session.get_inputs()]

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.session.run(None, {n: np.ascontiguousarray(a) for n, a in zip(self.names, inputs)}))

    @property
    def threads(self) -> int:
        return int(self.session.get_session_options().intra_op_num_threads)


@lru_cache(maxsize=1)
def _ov_core() -> Any:
    import openvino as ov

    return ov.Core()


def _build_openvino(module: torch.nn.Module, spec: ExportSpec, folder: Path) -> None:
    """Through ONNX: OpenVINO's own PyTorch frontend took 4x longer on HRNet (99 s against
    24 + 3 s on a busy 2-core machine) for the same graph and numbers."""
    import openvino as ov

    _build_onnx(module, spec, folder)
    onnx_file = folder / "model.onnx"
    ov.save_model(ov.convert_model(str(onnx_file)), str(folder / "model.xml"), compress_to_fp16=False)
    onnx_file.unlink()


def openvino_compiled(xml: Path, threads: int) -> Any:
    """An OpenVINO IR compiled for the CPU with ``threads`` and f32 precision."""
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
              "INFERENCE_PRECISION_HINT": "f32"}  # fmt: skip
    return _ov_core().compile_model(str(xml), "CPU", config)


def _load_openvino(folder: Path, threads: int) -> OpenVINOEngine:
    return OpenVINOEngine(openvino_compiled(folder / "model.xml", threads))


def _build_onnx(module: torch.nn.Module, spec: ExportSpec, folder: Path) -> None:
    inputs = [f"input{i}" for i in range(len(spec.examples))]
    outputs = [f"output{i}" for i in range(spec.outputs)]
    # The tracer cannot record inference-mode tensors (callers may be inside inference_mode).
    # stdout: torch 2.14's exporter prints the whole graph when it fails (the failure itself
    # is reported once, as a warning, by compile_module).
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        examples = tuple(e.clone() for e in spec.examples)
        torch.onnx.export(
            module,
            examples,
            str(folder / "model.onnx"),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={n: {0: "batch"} for n in inputs + outputs},
            opset_version=17,
            dynamo=False,
        )


def onnxruntime_session(model: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads and no spin-waiting."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _load_onnx(folder: Path, threads: int) -> OnnxRuntimeEngine:
    return OnnxRuntimeEngine(onnxruntime_session(folder / "model.onnx", threads))


_BUILD = {"openvino": (_build_openvino, _load_openvino), "onnxruntime": (_build_onnx, _load_onnx)}


def compile_module(
    module: torch.nn.Module,
    spec: ExportSpec,
    backend: str,
    *,
    threads: int,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    cache: ConversionCache | None = None,
) -> Engine:
    """``module`` on ``backend`` (``torch``, ``openvino`` or ``onnxruntime``).

    The conversion is loaded from, or written to, ``cache`` (default
    :func:`conversion_cache`). A module that fails to convert or load runs in PyTorch
    on the CPU, with one warning naming the model, the backend and the reason.

    Args:
        module: in eval mode; takes ``spec.examples``-shaped tensors.
        spec: examples and identity (see :class:`ExportSpec`).
        backend: an already-resolved backend name (:func:`core.backends.resolve_backend`).
        threads: the threads the run owns (OpenVINO ``INFERENCE_NUM_THREADS``, ONNX
            Runtime ``intra_op_num_threads``; PyTorch's are set by the runtime).
        device, precision: for the PyTorch engine.
    """
    module = module.eval()
    if backend == "torch":
        return TorchEngine(module, device, precision)
    build, load = _BUILD[backend]
    cache = cache or conversion_cache()
    try:
        if spec.weights == UNREPEATABLE:
            import tempfile

            with tempfile.TemporaryDirectory(prefix=f"pose3d-{spec.label}-") as tmp:
                build(module, spec, Path(tmp))
                return load(Path(tmp), threads)
        engine, built = cache.get_or_build(
            f"{spec.label}-{backend}", spec.key(backend), lambda folder: build(module, spec, folder),
            lambda folder: load(folder, threads),
        )  # fmt: skip
        if built:
            log.info("converted %s for %s (cached in %s)", spec.label, backend, cache.root)
        return engine
    except Exception as e:  # noqa: BLE001 - any converter failure falls back to PyTorch
        log.warning("%s does not convert to %s (%s): running it in PyTorch", spec.label, backend, brief(e, 160))
        return TorchEngine(module, "cpu", "fp32")
