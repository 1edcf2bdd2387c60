"""Backend names, availability and what ``--backend auto`` picks.

``auto``: PyTorch on CUDA (fp16 there, as before); OpenVINO on x86 CPUs when it is
installed (it is in ``requirements.txt``); PyTorch elsewhere, with one warning saying why.
A backend named explicitly but not installed is a :class:`core.errors.UserError` with
the pip command.
"""
from __future__ import annotations

import importlib.util
import logging
import platform
from functools import lru_cache

import torch

from ..errors import UserError

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("auto", "torch", "openvino", "onnxruntime")
#: pip packages (pinned as in requirements*.txt) each optional backend needs.
INSTALL: dict[str, str] = {
    "openvino": "pip install openvino==2026.4.1 onnx==1.23.2",
    "onnxruntime": "pip install onnxruntime==1.32.0 onnx==1.23.2",
}
#: Models that stay on PyTorch under ``--backend auto``: the per-model benchmark
#: (``bench/bench_backends.py``, README "Backends") measured the lifters no faster on OpenVINO
#: or ONNX Runtime (STCFormer-27 centre frame 0.84x, seq2seq 1.07x, PoseFormerV2-81 1.02x).
TORCH_UNDER_AUTO: frozenset[str] = frozenset({"lifter"})
_MODULES = {"openvino": ("openvino", "onnx"), "onnxruntime": ("onnxruntime", "onnx")}


def installed(backend: str) -> bool:
    """Whether ``backend``'s packages can be imported here (PyTorch always can)."""
    if backend == "torch":
        return True
    return all(importlib.util.find_spec(m) is not None for m in _MODULES[backend])


@lru_cache(maxsize=None)
def backend_version(backend: str) -> str:
    """The installed version of ``backend`` (part of every converted model's cache key)."""
    if backend == "torch":
        return torch.__version__
    module = __import__(_MODULES[backend][0])
    return str(getattr(module, "__version__", "unknown"))


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def check_backend(choice: str) -> str:
    """``choice`` if it is a backend name; a clear error with the names otherwise."""
    if choice not in BACKENDS:
        raise UserError(f"unknown backend {choice!r}: use {', '.join(BACKENDS)}")
    return choice


def resolve_backend(choice: str, device: torch.device) -> str:
    """The backend a run uses for its models on ``device`` (see the module docstring).

    Raises:
        UserError: an unknown name, a backend that is not installed (with the pip
            command), or OpenVINO / ONNX Runtime asked for with a CUDA device (they run
            the models on the CPU here).
    """
    check_backend(choice)
    if choice == "auto":
        if device.type == "cuda":
            return "torch"
        if not _x86():
            return "torch"
        if not installed("openvino"):
            log.warning("--backend auto: OpenVINO is not installed, so the models run in PyTorch eager "
                        "(slower on this CPU; %s)", INSTALL["openvino"])  # fmt: skip
            return "torch"
        return "openvino"
    if choice != "torch":
        if not installed(choice):
            raise UserError(f"--backend {choice} needs packages that are not installed: {INSTALL[choice]}")
        if device.type == "cuda":
            raise UserError(f"--backend {choice} runs the models on the CPU; with --device {device} use "
                            "--backend torch (or auto)")  # fmt: skip
    return choice
