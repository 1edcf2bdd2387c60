"""The person detector exported to OpenVINO or ONNX Runtime by Ultralytics' own exporter,
at the input shape the clip needs, cached like every converted model (:mod:`core.backends.cache`).

PyTorch YOLO letterboxes each frame to a rectangle: the long side to ``imgsz``, the
short side padded up to a multiple of the stride (480x640 for a 4:3 clip at 640). An
export runs at one fixed shape, and Ultralytics letterboxes into exactly that shape, so
exporting at the clip's rectangle gives the network the same pixels as PyTorch and the
same boxes (a square 640x640 export sees a different letterbox and finds different
boxes: mean best IoU 0.90 against PyTorch's on vtest). One export per (weights, shape,
backend); a clip of another size gets its own.

Ultralytics compiles OpenVINO models for every core and leaves ONNX Runtime's thread
pool at its default; :func:`own_threads` re-creates them with the run's thread count.
"""
from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.backends import ConversionCache, backend_version, conversion_cache
from core.backends.engines import UNREPEATABLE, onnxruntime_session, openvino_compiled
from core.errors import brief
from core.runtime import Runtime

log = logging.getLogger(__name__)

#: Ultralytics' ``format=`` and what the export writes, per backend.
_FORMATS = {"openvino": ("openvino", "detector_openvino_model"), "onnxruntime": ("onnx", "detector.onnx")}


def letterbox_shape(height: int, width: int, imgsz: int, stride: int = 32) -> tuple[int, int]:
    """``(h, w)`` of the tensor PyTorch YOLO feeds its network for a ``height x width``
    frame at ``imgsz`` (long side scaled to ``imgsz``, short side padded to the stride)."""
    r = min(imgsz / height, imgsz / width)
    h, w = int(round(height * r)), int(round(width * r))
    return h + (imgsz - h) % stride, w + (imgsz - w) % stride


def own_threads(yolo: Any, backend: str, model_path: Path, threads: int) -> None:
    """Rebuild the exported model's runtime inside ``yolo``'s predictor with ``threads``."""
    runner = yolo.predictor.model.backend
    if backend == "openvino":
        runner.ov_compiled_model = openvino_compiled(next(model_path.glob("*.xml")), threads)
    else:
        runner.session = onnxruntime_session(model_path, threads)


def runtime_threads(yolo: Any) -> int:
    """The thread count the exported detector's runtime was built with (for tests)."""
    runner = yolo.predictor.model.backend
    if hasattr(runner, "ov_compiled_model"):
        return int(runner.ov_compiled_model.get_property("INFERENCE_NUM_THREADS"))
    return int(runner.session.get_session_options().intra_op_num_threads)


class ExportedDetector:
    """A YOLO exported for ``backend`` at one input shape, loaded and warmed up.

    Args:
        weights: the ``.pt`` file (or a model yaml: exported every time, never cached).
        weights_sha: its sha256 (``UNREPEATABLE`` for a yaml).
        backend: ``openvino`` or ``onnxruntime``.
        shape: ``(h, w)`` network input, from :func:`letterbox_shape`.
        runtime: the run's threads (Ultralytics' calls reset torch's; they are restored).
    """

    def __init__(self, weights: str, weights_sha: str, backend: str, shape: tuple[int, int], runtime: Runtime,
                 cache: ConversionCache | None = None) -> None:  # fmt: skip
        import ultralytics

        self.backend, self.shape, self.runtime = backend, shape, runtime
        self._tmp: tempfile.TemporaryDirectory | None = None
        key = {"model": "detector", "weights": weights_sha, "inputs": [[3, *shape, "float32"]], "batch": 1,
               "backend": backend, "backend_version": backend_version(backend),
               "ultralytics": ultralytics.__version__}  # fmt: skip
        build = lambda folder: self._export(weights, folder)  # noqa: E731
        if weights_sha == UNREPEATABLE:
            self._tmp = tempfile.TemporaryDirectory(prefix="pose3d-detector-")
            build(Path(self._tmp.name))
            self.yolo = self._load(Path(self._tmp.name))
        else:
            label = f"detector-{shape[1]}x{shape[0]}-{backend}"
            self.yolo, _ = (cache or conversion_cache()).get_or_build(label, key, build, self._load)

    def _export(self, weights: str, folder: Path) -> None:
        from ultralytics import YOLO

        fmt, _ = _FORMATS[self.backend]
        source = folder / "detector.pt"
        if weights.endswith((".yaml", ".yml")):
            model = YOLO(weights, task="detect")
        else:
            shutil.copyfile(weights, source)  # the export lands beside its input
            model = YOLO(str(source), task="detect")
        try:  # the exporter prints its own summary and the tracer's deprecation notes
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.export(format=fmt, imgsz=self.shape, batch=1, dynamic=False, half=False, device="cpu",
                             verbose=False, **({"simplify": False} if fmt == "onnx" else {}))  # fmt: skip
        finally:
            self.runtime.assert_threads()
        exported = next(folder.glob("*_openvino_model" if fmt == "openvino" else "*.onnx"))
        target = folder / _FORMATS[self.backend][1]
        if exported != target:
            exported.rename(target)
        source.unlink(missing_ok=True)

    def _load(self, folder: Path) -> Any:
        from ultralytics import YOLO

        path = folder / _FORMATS[self.backend][1]
        try:
            yolo = YOLO(str(path), task="detect")
            # The predictor (and the backend's runtime) exist after the first call.
            yolo.predict(np.zeros((*self.shape, 3), np.uint8), imgsz=self.shape, verbose=False, device="cpu")
            own_threads(yolo, self.backend, path, self.runtime.threads)
        finally:
            self.runtime.assert_threads()
        return yolo


def export_detector(weights: str, weights_sha: str, backend: str, shape: tuple[int, int],
                    runtime: Runtime) -> ExportedDetector | None:  # fmt: skip
    """:class:`ExportedDetector`, or None (one warning: the detector stays in PyTorch) when
    the export or its loading fails."""
    try:
        return ExportedDetector(weights, weights_sha, backend, shape, runtime)
    except Exception as e:  # noqa: BLE001 - any exporter failure falls back to PyTorch
        log.warning("the detector %s does not export to %s (%s): running it in PyTorch",
                    Path(weights).name, backend, brief(e, 160))  # fmt: skip
        return None
