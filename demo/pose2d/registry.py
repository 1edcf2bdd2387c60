"""The 2D stage's named weights (from ``checkpoints/manifest.json``): top-down keypoint
models (HRNet; RTMPose, the 16 MMPose releases, Body8-trained by default) and person
detectors. A name or a path becomes a file with :func:`core.weights.resolve_weights`;
which model family a file is decides its loader (:func:`demo.pose2d.models.load_pose2d`)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from core.weights import WeightsFile, manifest_section

DEFAULT_POSE2D = "hrnet-w48-384x288"
DEFAULT_DETECTOR = "yolo26l.pt"


@dataclass(frozen=True, kw_only=True)
class Pose2DEntry(WeightsFile):
    """A top-down 2D keypoint checkpoint (HRNet or RTMPose).

    Attributes:
        arch: ``hrnet-w32``, ``hrnet-w48``, ``rtmpose-t``/``-s``/``-m``/``-l``.
        input_size: crop ``(width, height)`` in pixels it was trained with.
        coco_ap: COCO val keypoint AP reported by the publisher (not measured here).
        note: one line for ``--help`` and the README.
        config: the MMPose config the checkpoint was released with (RTMPose).
    """

    arch: str
    input_size: tuple[int, int]
    coco_ap: float | None
    note: str = ""
    config: str | None = None

    @property
    def family(self) -> str:
        """``hrnet`` or ``rtmpose``."""
        return "rtmpose" if self.arch.startswith("rtmpose") else "hrnet"


@dataclass(frozen=True, kw_only=True)
class DetectorEntry(WeightsFile):
    """An Ultralytics YOLO detector (downloaded through Ultralytics' own asset resolver).

    Attributes:
        coco_map: COCO val box mAP 50-95 reported by Ultralytics.
        note: one line for ``--help`` and the README.
    """

    coco_map: float
    note: str = ""


@lru_cache(maxsize=1)
def pose2d_entries() -> dict[str, Pose2DEntry]:
    return {name: Pose2DEntry(**dict(raw, input_size=tuple(raw["input_size"])))
            for name, raw in manifest_section("pose2d").items()}  # fmt: skip


@lru_cache(maxsize=1)
def detector_entries() -> dict[str, DetectorEntry]:
    return {name: DetectorEntry(**raw) for name, raw in manifest_section("detectors").items()}
