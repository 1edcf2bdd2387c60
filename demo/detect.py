"""Person detection with Ultralytics YOLO, batched over frames.

The default model is ``yolo26l.pt``: on a GPU it is the quality choice (COCO box mAP
55.0 at 6.2 ms per 640 px frame on a T4 with TensorRT, per Ultralytics); ``yolo26x.pt``
gains 2.5 mAP for twice the time, ``yolo26n.pt`` is the one to pick on a CPU. Any
ultralytics detection checkpoint whose class 0 is ``person`` works, and a model yaml
(``yolo26n.yaml``) builds a randomly initialised detector, which is how tests run offline.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lifter.errors import CheckpointError, brief

from lifter.registry import resolve_weights

from .weights import detector_entries

os.environ.setdefault("YOLO_OFFLINE", "1")  # never let ultralytics probe the network on import
os.environ.setdefault("YOLO_VERBOSE", "False")

log = logging.getLogger(__name__)

DEFAULT_DETECTOR = "yolo26l.pt"
PERSON_CLASS = 0


@dataclass(frozen=True)
class DetectorConfig:
    """How people are detected.

    Attributes:
        model: an ultralytics weights name (``yolo26l.pt``, looked up in the checkpoint
            folder), a path to a ``.pt`` file, or a model ``.yaml`` (random weights).
        conf: lowest detection confidence kept. Low on purpose: ByteTrack uses the
            0.1-0.25 detections to keep tracks alive through occlusion; tracks start only
            from confident ones (see :class:`demo.track.TrackerConfig`).
        imgsz: inference size in pixels (long side).
        batch_size: frames per forward pass; ``None``: 1 on the CPU (batches were slower
            there: YOLO26l at 1.10 frames/s alone, 0.91 in batches of 8), 16 on CUDA.
        max_det: most detections kept per frame.
        half: fp16 inference; ``None`` means on CUDA only.
    """

    model: str = DEFAULT_DETECTOR
    conf: float = 0.1
    imgsz: int = 640
    batch_size: int | None = None
    max_det: int = 100
    half: bool | None = None


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


class PersonDetector:
    """Runs a YOLO model on batches of frames and keeps the people.

    Args:
        config: model and thresholds.
        device: where the network runs.
    """

    def __init__(self, config: DetectorConfig, device: torch.device) -> None:
        from ultralytics import YOLO  # imported late: it is slow and prints on first import

        self.config = config
        self.device = device
        self.weights = resolve_detector_weights(config.model)
        try:
            self.model = YOLO(self.weights, task="detect")
        except Exception as e:  # noqa: BLE001 - ultralytics raises many types for a foreign file
            raise CheckpointError(f"detector {self.weights} is not an ultralytics YOLO model ({brief(e)})") from None
        names = getattr(self.model, "names", None) or {}
        # A model built from a yaml has no class names (they read '0', '1', ...): nothing to check.
        if not str(names.get(PERSON_CLASS, "0")).isdigit() and names.get(PERSON_CLASS) != "person":
            raise CheckpointError(
                f"detector {self.weights}: class {PERSON_CLASS} is {names.get(PERSON_CLASS)!r}, not 'person'; "
                "use a COCO-trained detection model"
            )
        self.half = config.half if config.half is not None else device.type == "cuda"
        self.batch_size = config.batch_size or (16 if device.type == "cuda" else 1)

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """People in each of ``frames`` (``(H, W, 3)`` uint8 BGR), one :class:`Detections` per frame."""
        out: list[Detections] = []
        c = self.config
        for first in range(0, len(frames), self.batch_size):
            results = self.model.predict(
                list(frames[first : first + self.batch_size]),
                classes=[PERSON_CLASS],
                conf=c.conf,
                imgsz=c.imgsz,
                max_det=c.max_det,
                quantize=16 if self.half else 32,
                device=str(self.device),
                verbose=False,
            )
            for r in results:
                boxes = r.boxes
                if boxes is None or len(boxes) == 0:
                    out.append(Detections.empty())
                else:
                    out.append(Detections(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy()))
        return out
