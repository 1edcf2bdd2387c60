"""A lifter's entry points on an execution backend (:mod:`core.backends`).

:func:`lifter.inference.lift_tracks` calls a lifter in up to four ways: the centre frame
of each window (both families), every frame of each window (STCFormer seq2seq), and
PoseFormerV2's two halves when windows share their per-frame spatial features
(``embed_frames`` once per distinct frame, then ``forward_centre`` with them). Each is
converted separately, on first use, with the batch dimension dynamic; on the PyTorch
backend they are the model's own methods (autocast and the device are the caller's).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.backends import Engine, ExportSpec, compile_module
from core.joints import H36M_JOINTS

from .poseformerv2 import PoseFormerV2
from .registry import LifterModel

NUM_JOINTS = len(H36M_JOINTS)


class _EntryPoint(nn.Module):
    """One method of a lifter as a module's forward, so a converter can trace it."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.model, self.method = model, method

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(*inputs)


class LifterCalls:
    """The lifter's entry points on ``backend`` (see the module docstring).

    Args:
        model: a loaded lifter.
        backend: ``torch``, ``openvino`` or ``onnxruntime`` (already resolved).
        threads: the threads the run owns.
        weights: sha256 of the lifter's weights file (the converted models' cache key).
    """

    def __init__(self, model: LifterModel, backend: str = "torch", *, threads: int = 1, weights: str = "") -> None:
        self.model, self.backend, self.threads, self.weights = model, backend, threads, weights
        self._engines: dict[str, Engine] = {}
        self.backends_used: dict[str, str] = {}

    def _engine(self, method: str, examples: tuple[torch.Tensor, ...]) -> Engine:
        entry = f"{method.replace('_', '-')}-{len(examples)}in"  # forward_centre alone or with spatial
        if entry not in self._engines:
            family = type(self.model).__name__.lower()
            spec = ExportSpec(f"{family}-{self.model.num_frames}-{entry}", self.weights,
                              tuple(e[:2].contiguous() for e in examples))  # fmt: skip
            engine = compile_module(_EntryPoint(self.model, method), spec, self.backend, threads=self.threads)
            self._engines[entry] = engine
            self.backends_used[entry] = engine.backend
        return self._engines[entry]

    def _run(self, method: str, *inputs: torch.Tensor) -> torch.Tensor:
        if self.backend == "torch":
            return getattr(self.model, method)(*inputs)
        engine = self._engine(method, inputs)
        (out,) = engine(*(np.ascontiguousarray(x.detach().cpu().numpy()) for x in inputs))
        return torch.from_numpy(out).to(inputs[0].device)

    def prepare(self, mode: str) -> None:
        """Convert (or load) now the entry points lifting in ``mode`` uses, so the first
        clip's lifting time is not a conversion's (the pipeline calls it at setup)."""
        if self.backend == "torch":
            return
        windows = torch.zeros(2, self.model.num_frames, NUM_JOINTS, 2)
        if mode == "seq2seq":
            self._engine("forward", (windows,))
        elif self.shares_spatial:
            config = self.model.config
            self._engine("embed_frames", (windows[0],))
            self._engine("forward_centre", (windows, torch.zeros(2, config.frames_kept, config.embed_dim)))
        else:
            self._engine("forward_centre", (windows,))

    @property
    def effective_backend(self) -> str:
        """The backend the calls so far ran on (``torch`` where a conversion fell back)."""
        used = set(self.backends_used.values())
        return used.pop() if len(used) == 1 else (self.backend if not used else "mixed")

    def centre(self, windows: torch.Tensor) -> torch.Tensor:
        """``(B, F, 17, 2)`` -> ``(B, 17, 3)`` centre-frame predictions."""
        return self._run("forward_centre", windows)

    def centre_shared(self, windows: torch.Tensor, spatial: torch.Tensor) -> torch.Tensor:
        """PoseFormerV2: ``(B, F, 17, 2)`` and ``(B, frames_kept, embed_dim)`` -> ``(B, 17, 3)``."""
        if self.backend == "torch":
            return self.model.forward_centre(windows, spatial=spatial)
        return self._run("forward_centre", windows, spatial)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """PoseFormerV2's spatial features: ``(N, 17, 2)`` -> ``(N, embed_dim)``."""
        return self._run("embed_frames", frames)

    def all_frames(self, windows: torch.Tensor) -> torch.Tensor:
        """STCFormer seq2seq: ``(B, F, 17, 2)`` -> ``(B, F, 17, 3)``."""
        return self._run("forward", windows)

    @property
    def shares_spatial(self) -> bool:
        return isinstance(self.model, PoseFormerV2)
