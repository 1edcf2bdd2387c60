"""The torch runtime a run owns: device, CPU threads, numeric precision, and the process
environment the libraries read at import.

Ultralytics takes over torch's threads: importing it sets ``OMP_NUM_THREADS=1`` when it
is unset, and its device selection calls ``torch.set_num_threads(min(8, cpus - 1))``. A
run therefore decides its thread count once (:func:`configure_runtime`) and re-asserts
it after every Ultralytics call (:func:`assert_threads`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Literal

import torch

from .errors import UserError

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}

#: Models that stay fp32 under ``--precision auto`` because their measured cost in reduced
#: precision is above the README's threshold (see its "Precision" section).
FP32_UNDER_AUTO: frozenset[str] = frozenset()

# Read by Ultralytics when it is imported: never probe the network, never print banners.
_ULTRALYTICS_ENV = {"YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False"}


def pick_device(choice: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    choice = choice.lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {choice} was asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
        return torch.device(choice)
    if choice == "cpu":
        return torch.device("cpu")
    raise UserError(f"unknown device '{choice}': use auto, cpu or cuda")


def available_cores() -> int:
    """Cores this process may use: an explicit ``OMP_NUM_THREADS``, else the CPU affinity mask."""
    explicit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic in hardware (AVX512-BF16 or AMX), where bf16
    autocast is faster than fp32 instead of emulated."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


@dataclass(frozen=True)
class Runtime:
    """What a run decided about the machine.

    Attributes:
        device: where the networks run.
        threads: torch intra-op threads (CPU work: every model and NumPy-free op).
        precision: ``fp32``, ``bf16`` or ``fp16`` for the models that accept reduced
            precision (see :func:`resolve_precision`).
        requested: what the user asked for (``auto`` lets :data:`FP32_UNDER_AUTO` apply).
        backend: where the models' arithmetic runs: ``torch``, ``openvino`` or
            ``onnxruntime`` (resolved from ``--backend``, see :mod:`core.backends.choice`).
            OpenVINO and ONNX Runtime run fp32 on the CPU; ``precision`` is PyTorch's.
    """

    device: torch.device
    threads: int
    precision: str
    requested: str = "auto"
    backend: str = "torch"
    requested_backend: str = "torch"

    def precision_for(self, model: str) -> str:
        """The precision ``model`` (``detector``, ``pose2d``, ``lifter``) runs in."""
        if self.requested == "auto" and model in FP32_UNDER_AUTO:
            return "fp32"
        return self.precision

    def backend_for(self, model: str) -> str:
        """The backend ``model`` (``detector``, ``pose2d``, ``lifter``) runs on: the run's,
        except PyTorch under ``--backend auto`` for the models in
        :data:`core.backends.choice.TORCH_UNDER_AUTO` (measured slower elsewhere here)."""
        from .backends.choice import TORCH_UNDER_AUTO

        if self.requested_backend == "auto" and model in TORCH_UNDER_AUTO:
            return "torch"
        return self.backend

    def for_model(self, model: str) -> Runtime:
        """This runtime with ``model``'s precision and backend."""
        return replace(self, precision=self.precision_for(model), backend=self.backend_for(model))

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for fp32."""
        return _DTYPES.get(self.precision)

    def autocast(self, enabled: bool = True) -> torch.autocast:
        """An autocast context for this device and precision (a no-op for fp32)."""
        dtype = self.autocast_dtype
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=enabled and dtype is not None)

    def assert_threads(self) -> None:
        """Set torch's thread count back to ours (call after anything that may change it)."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)


def resolve_precision(choice: str, device: torch.device) -> str:
    """``auto`` -> fp16 on CUDA, bf16 on CPUs with native bf16, fp32 elsewhere.

    Raises:
        UserError: an unknown name, fp16 on a CPU, or bf16 on a CUDA GPU without it.
    """
    if choice not in PRECISIONS:
        raise UserError(f"unknown precision {choice!r}: use {', '.join(PRECISIONS)}")
    if choice == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if choice == "fp16" and device.type != "cuda":
        raise UserError("fp16 needs a CUDA GPU; on a CPU use bf16 (fast where the CPU has native bf16) or fp32")
    if choice == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("this GPU has no bf16 support; use fp16 or fp32")
    return choice


#: Where ``--backend`` takes its default from when it is not given (``auto`` otherwise).
BACKEND_ENV = "POSE3D_BACKEND"


def default_backend() -> str:
    """``$POSE3D_BACKEND`` or ``auto``."""
    return os.environ.get(BACKEND_ENV, "").strip() or "auto"


def configure_runtime(
    device: str = "auto", threads: int | None = None, precision: str = "auto", backend: str | None = None
) -> Runtime:
    """Decide device, threads, precision and backend for this process, once, at start.

    Sets the environment Ultralytics reads (before it is imported), torch's thread count
    and, on CUDA, cuDNN autotuning (the pipeline's input shapes repeat).

    Args:
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        threads: torch threads; ``None``: every core the process may use (:func:`available_cores`).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        backend: ``auto``, ``torch``, ``openvino`` or ``onnxruntime``; ``None``:
            :func:`default_backend`.
    """
    from .backends import resolve_backend

    for name, value in _ULTRALYTICS_ENV.items():
        os.environ.setdefault(name, value)
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    torch_device = pick_device(device)
    asked = backend or default_backend()
    runtime = Runtime(torch_device, threads or available_cores(), resolve_precision(precision, torch_device), precision,
                      resolve_backend(asked, torch_device), asked)  # fmt: skip
    if precision in ("bf16", "fp16") and runtime.backend != "torch":
        log.warning("--precision %s applies to PyTorch; on %s the models run in fp32 (--backend torch for %s)",
                    precision, runtime.backend, precision)  # fmt: skip
    runtime.assert_threads()
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return runtime
