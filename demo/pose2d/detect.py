"""Person detection with Ultralytics YOLO, batched over frames.

The default model is ``yolo26l.pt``: on a GPU it is the quality choice (COCO box mAP
55.0 at 6.2 ms per 640 px frame on a T4 with TensorRT, per Ultralytics); ``yolo26x.pt``
gains 2.5 mAP for twice the time, ``yolo26n.pt`` is the one to pick on a CPU. Any
ultralytics detection checkpoint works: the classes that are people are chosen by name or
id (``person`` by default; ``Normal,Fall`` for a fall detector), and a model yaml
(``yolo26n.yaml``) builds a randomly initialised detector, which is how tests run offline.

Ultralytics resets torch's thread count inside ``predict``; the detector hands it back to
the run's :class:`core.runtime.Runtime` after every call.

On the OpenVINO and ONNX Runtime backends the detector is Ultralytics' own export of the
same weights, at the letterbox shape of the clip (:mod:`demo.pose2d.detector_export`),
run one frame per call.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import CheckpointError, UserError, brief
from core.runtime import Runtime
from core.weights import resolve_weights

from ..cache import weights_identity
from .detector_export import ExportedDetector, export_detector, letterbox_shape
from .registry import DEFAULT_DETECTOR, detector_entries

log = logging.getLogger(__name__)

DEFAULT_PERSON_CLASSES = ("person",)


@dataclass(frozen=True)
class DetectorConfig:
    """How people are detected.

    Attributes:
        model: an ultralytics weights name (``yolo26l.pt``, looked up in the checkpoint
            folder), a path to a ``.pt`` file, or a model ``.yaml`` (random weights).
        conf: lowest detection confidence kept. Low on purpose: ByteTrack uses the
            0.1-0.25 detections to keep tracks alive through occlusion; tracks start only
            from confident ones (see :class:`demo.pose2d.track.TrackerConfig`).
        imgsz: inference size in pixels (long side).
        batch_size: frames per forward pass; ``None``: 1 on the CPU (batches were slower
            there: YOLO26l at 1.10 frames/s alone, 0.91 in batches of 8), 16 on CUDA.
        max_det: most detections kept per frame.
        person_classes: the model's classes that are people, by name (case-insensitive)
            or by id: ``("person",)`` for COCO models, ``("Normal", "Fall")`` for a fall
            detector. All of them are detected as people.
    """

    model: str = DEFAULT_DETECTOR
    conf: float = 0.1
    imgsz: int = 640
    batch_size: int | None = None
    max_det: int = 100
    person_classes: tuple[str, ...] = field(default=DEFAULT_PERSON_CLASSES)


@dataclass
class Detections:
    """People found in one frame.

    Attributes:
        xyxy: ``(n, 4)`` float32 boxes, pixels (x1, y1, x2, y2).
        conf: ``(n,)`` float32 confidences in [0, 1].
    """

    xyxy: np.ndarray
    conf: np.ndarray

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.conf = np.asarray(self.conf, dtype=np.float32).reshape(-1)
        if len(self.xyxy) != len(self.conf):
            raise ValueError(f"xyxy has {len(self.xyxy)} boxes but conf has {len(self.conf)} values")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def without_degenerate(self) -> tuple[Detections, int]:
        """These detections without boxes of zero (or negative, or non-finite) width or
        height, which no crop can be cut from; and how many were dropped."""
        size = self.xyxy[:, 2:] - self.xyxy[:, :2]
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(self.xyxy).all(axis=1) & (size > 0).all(axis=1)
        if ok.all():
            return self, 0
        return Detections(self.xyxy[ok], self.conf[ok]), int((~ok).sum())

    def __len__(self) -> int:
        return len(self.conf)


def resolve_detector_weights(spec: str) -> str:
    """The file (or bundled model yaml) ultralytics should load for ``spec``.

    Raises:
        CheckpointError: a weights name that is neither a file nor downloaded.
    """
    if spec.endswith((".yaml", ".yml")):
        return spec
    return str(resolve_weights(spec, detector_entries(), "detector")[0])


def person_class_ids(names: dict[int, str], wanted: Sequence[str], weights: str) -> list[int]:
    """The class ids of ``wanted`` (names, case-insensitive, or integer ids) in a model's ``names``.

    A model built from a yaml has no class names (they read '0', '1', ...): there
    ``person`` means class 0, as in COCO.

    Raises:
        CheckpointError: a wanted class the model does not have (the error lists its classes).
    """
    by_name = {str(n).lower(): i for i, n in names.items()}
    unnamed = all(str(n).isdigit() for n in names.values())
    ids = []
    for w in wanted:
        key = str(w).strip()
        if key.isdigit() and int(key) in names:
            ids.append(int(key))
        elif key.lower() in by_name:
            ids.append(by_name[key.lower()])
        elif unnamed and key.lower() == "person":
            ids.append(0)
        else:
            listed = ", ".join(f"{i}={n}" for i, n in sorted(names.items())[:20])
            raise CheckpointError(
                f"detector {weights} has no class {key!r} (its classes: {listed}); "
                "name the classes that are people with --person-classes, e.g. --person-classes Normal,Fall"
            )
    return sorted(set(ids))


class PersonDetector:
    """Runs a YOLO model on batches of frames and keeps the people.

    Args:
        config: model, thresholds and person classes.
        runtime: device, threads and precision of the run (fp16 uses Ultralytics' half
            precision on CUDA; bf16 runs the network under CPU/CUDA bf16 autocast).
    """

    def __init__(self, config: DetectorConfig, runtime: Runtime) -> None:
        from ultralytics import YOLO  # imported late: it is slow and prints on first import

        self.config = config
        self.runtime = runtime
        self.device = runtime.device
        self.weights = resolve_detector_weights(config.model)
        try:
            self.model = YOLO(self.weights, task="detect")
        except Exception as e:  # noqa: BLE001 - ultralytics raises many types for a foreign file
            raise CheckpointError(f"detector {self.weights} is not an ultralytics YOLO model ({brief(e)})") from None
        finally:
            runtime.assert_threads()
        names = dict(getattr(self.model, "names", None) or {})
        self.classes = person_class_ids(names, config.person_classes, self.weights)
        self.precision = runtime.precision
        self.batch_size = config.batch_size or (16 if self.device.type == "cuda" else 1)
        if self.batch_size < 1:
            raise UserError(f"detector batch size must be at least 1, got {self.batch_size}")
        # Frame (h, w) -> the export for it (None: that export failed, PyTorch runs it).
        self._exports: dict[tuple[int, int], ExportedDetector | None] = {}

    @property
    def backend(self) -> str:
        """Where the network runs: the run's backend, or ``torch`` before / without an export."""
        done = [e for e in self._exports.values() if e is not None]
        if self.runtime.backend_for("detector") == "torch" or (self._exports and not done):
            return "torch"
        return self.runtime.backend_for("detector")

    def prepare(self, size: tuple[int, int]) -> None:
        """Export (or load the cached export) for frames of ``size`` (h, w) now, so the
        first frames' detection time is not the export's (the tracking pass calls it)."""
        if self.runtime.backend_for("detector") != "torch":
            self._export_for(np.empty((*size, 3), np.uint8))

    def _export_for(self, frame: np.ndarray) -> ExportedDetector | None:
        size = frame.shape[:2]
        if size not in self._exports:
            shape = letterbox_shape(size[0], size[1], self.config.imgsz, int(max(self.model.stride)))
            self._exports[size] = export_detector(self.weights, weights_identity(self.weights),
                                                  self.runtime.backend_for("detector"), shape, self.runtime)  # fmt: skip
        return self._exports[size]

    def _predict_exported(self, exported: ExportedDetector, frame: np.ndarray) -> Any:
        c = self.config
        try:
            (result,) = exported.yolo.predict(frame, classes=self.classes, conf=c.conf, imgsz=exported.shape,
                                              max_det=c.max_det, device="cpu", verbose=False)  # fmt: skip
        finally:
            self.runtime.assert_threads()
        return result

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """People in each of ``frames`` (``(H, W, 3)`` uint8 BGR), one :class:`Detections` per frame."""
        out: list[Detections] = []
        c = self.config
        if self.runtime.backend_for("detector") != "torch":
            exports = [self._export_for(f) for f in frames]  # one per frame size (a clip has one)
            if all(e is not None for e in exports):
                return [self._detections(self._predict_exported(e, f)) for e, f in zip(exports, frames)]
        # fp16 is Ultralytics' own half mode; bf16 has no such switch, so autocast it.
        bf16 = self.runtime.autocast() if self.precision == "bf16" else contextlib.nullcontext()
        for first in range(0, len(frames), self.batch_size):
            try:
                with bf16:
                    results = self.model.predict(
                        list(frames[first : first + self.batch_size]),
                        classes=self.classes,
                        conf=c.conf,
                        imgsz=c.imgsz,
                        max_det=c.max_det,
                        quantize=16 if self.precision == "fp16" else 32,
                        device=str(self.device),
                        verbose=False,
                    )
            finally:
                self.runtime.assert_threads()
            out.extend(self._detections(r) for r in results)
        return out

    @staticmethod
    def _detections(result: Any) -> Detections:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        return Detections(boxes.xyxy.float().cpu().numpy(), boxes.conf.float().cpu().numpy())
