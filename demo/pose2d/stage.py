"""The 2D stage: video -> every person's 2D keypoints in every frame, saved and cached.

:class:`Pose2DStage` holds the stage's models (loaded on first use, kept for many videos)
and runs two passes over the video, so the keypoint network never sees a crop that is
thrown away:

1. :func:`demo.pose2d.tracking_pass.find_people`: detect (YOLO, batches of frames) and
   track (ByteTrack), keep the tracks worth keeping;
2. :func:`demo.pose2d.keypoint_pass.track_keypoints`: decode again and run HRNet on the
   kept tracks' boxes, crops of many frames per batch.

The result (:class:`demo.pose2d.result.Pose2DResult`) holds every kept track over its
span of frames: a frame is DETECTED, FILLED (short gap, interpolated) or ABSENT (NaN).
It is written to ``<out>/pose2d.npz`` with a JSON record ``pose2d.json`` (metadata, the
cache key and the arrays' sha256, written last; see :mod:`demo.pose2d.result`), plus the
seeds' ``input_2D/keypoints.npz`` for the longest track. Running again on the same video
with the same weights, settings and versions reuses the saved result (:mod:`demo.cache`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.backends import backend_version
from core.runtime import Runtime
from core.weights import resolve_weights

from ..cache import ClipKey, pose2d_key, read_saved_key, stale_reason, weights_identity
from ..io.timing import StageTimes
from ..io.video import VideoInfo, VideoMeta
from .detect import DetectorConfig, PersonDetector, resolve_detector_weights
from .models import load_pose2d
from .rtmpose import RTMPoseConfig
from .keypoint_pass import track_keypoints
from .registry import DEFAULT_POSE2D, pose2d_entries
from .result import RESULT_JSON, RESULT_NPZ, Pose2DResult
from .topdown import IMAGENET_NORMALIZATION, SEED_NORMALIZATION, TopDownEstimator
from .track import TrackerConfig
from .tracking_pass import find_people

log = logging.getLogger(__name__)

NORMALIZATIONS = {"seed": SEED_NORMALIZATION, "imagenet": IMAGENET_NORMALIZATION}


@dataclass(frozen=True)
class Pose2DConfig:
    """Models and settings of the 2D stage.

    Attributes:
        detector: person detector (model, thresholds, person classes, batch size).
        tracker: tracking and which tracks to keep.
        pose_model: HRNet registry name (``hrnet-w48-384x288``) or checkpoint path.
        pose_input_size: crop ``(width, height)`` for an HRNet file the registry does not
            know and whose width has no official crop size (e.g. the test fixtures).
        pose_normalization: HRNet input statistics: ``seed`` (default) reproduces the seeds'
            demos exactly (ImageNet mean/std applied to BGR before the channel swap, so red
            and blue get each other's statistics); ``imagenet`` is what HRNet was trained with.
        pose_batch_size: crops per HRNet forward pass (bounds memory); ``None``: 4 on the
            CPU, 64 on CUDA (see :class:`demo.pose2d.topdown.TopDownEstimator`).
        chunk_frames: decoded frames whose crops are gathered before running HRNet.
        flip_test: RTMPose only: also run each crop mirrored and average (MMPose's
            default; doubles the 2D cost). ``None``: off, the measured default (README,
            "2D models").
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    pose_model: str = DEFAULT_POSE2D
    pose_input_size: tuple[int, int] | None = None
    pose_normalization: str = "seed"
    pose_batch_size: int | None = None
    chunk_frames: int = 32
    flip_test: bool | None = None

    def settings(self) -> dict[str, Any]:
        """What decides the 2D result (batch sizes do not; model files count by content)."""
        det = {k: v for k, v in asdict(self.detector).items() if k not in ("batch_size", "model")}
        return json.loads(json.dumps({
            "detector": det,
            "tracker": asdict(self.tracker),
            "pose_input_size": self.pose_input_size,
            "pose_normalization": self.pose_normalization,
            "flip_test": bool(self.flip_test),
        }, default=str))  # fmt: skip


class Pose2DStage:
    """The 2D stage with its models, loaded on first use and kept for many videos.

    Args:
        config: models and settings.
        runtime: device, threads and precision (the detector and HRNet follow
            ``runtime.precision_for("detector")`` / ``("pose2d")``).
    """

    def __init__(self, config: Pose2DConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        if config.pose_normalization not in NORMALIZATIONS:
            raise UserError(f"unknown 2D normalisation {config.pose_normalization!r}: use seed or imagenet")
        self.pose_path, self.pose_entry = resolve_weights(config.pose_model, pose2d_entries(), "2D pose model")
        # The registry knows a named model's crop size; a bare file may need it given.
        self.pose_input_size = self.pose_entry.input_size if self.pose_entry else config.pose_input_size
        self.detector_path = resolve_detector_weights(config.detector.model)
        self._detector: PersonDetector | None = None
        self._topdown: TopDownEstimator | None = None

    @property
    def detector(self) -> PersonDetector:
        if self._detector is None:
            self._detector = PersonDetector(self.config.detector, self.runtime.for_model("detector"))
        return self._detector

    @property
    def topdown(self) -> TopDownEstimator:
        if self._topdown is None:
            model, model_config = load_pose2d(self.pose_path, device=self.runtime.device, input_size=self.pose_input_size)
            if self.config.flip_test and not isinstance(model_config, RTMPoseConfig):
                raise UserError(f"--flip-test is implemented for RTMPose models, not for {model_config.name}")
            self._topdown = TopDownEstimator(
                model,
                model_config,
                self.runtime.device,
                batch_size=self.config.pose_batch_size,
                precision=self.runtime.precision_for("pose2d"),
                normalization=NORMALIZATIONS[self.config.pose_normalization],
                backend=self.runtime.backend_for("pose2d"),
                threads=self.runtime.threads,
                weights=weights_identity(self.pose_path),
                flip_test=self.config.flip_test,
            )
        return self._topdown

    def load(self) -> None:
        """Load both networks now (a bad file fails before any decoding)."""
        _ = self.detector, self.topdown

    def weights(self) -> dict[str, str]:
        """Role -> sha256 of the weights files (see :func:`demo.cache.weights_identity`)."""
        return {"detector": weights_identity(self.detector_path), "pose2d": weights_identity(self.pose_path)}

    def settings(self) -> dict[str, Any]:
        """Settings that decide the result, precision included (it changes the numbers)."""
        return dict(self.config.settings(), precision={
            "detector": self.runtime.precision_for("detector"), "pose2d": self.runtime.precision_for("pose2d")},
            # Results from different backends (or versions of one) are different results.
            backend={role: {"name": b, "version": backend_version(b)}
                     for role in ("detector", "pose2d") if (b := self.runtime.backend_for(role))})

    def key(self, video: Path) -> ClipKey:
        """The 2D result's cache key for ``video`` (built by :func:`demo.cache.pose2d_key`)."""
        return pose2d_key(video, self)

    def run(
        self,
        video: str | Path,
        out_dir: str | Path | None = None,
        *,
        reuse: bool = True,
        progress: bool = True,
        info: VideoInfo | None = None,
        times: StageTimes | None = None,
    ) -> Pose2DResult:
        """2D keypoints of everyone in ``video``; saved to / reused from ``out_dir`` when given.

        Args:
            info: the video's :class:`VideoInfo` if the caller has already probed it.
            times: where to add seconds per stage.

        Raises:
            VideoError: the video cannot be read or has no frames.
            CheckpointError: a model file is missing or wrong.
        """
        video = Path(video)
        times = times if times is not None else StageTimes()
        info = info or VideoInfo.probe(video)
        key = self.key(video)
        if out_dir is not None and reuse:
            cached = _load_if_current(Path(out_dir), key)
            if cached is not None:
                return cached
        with times.stage("setup"):
            self.load()
        num_frames, logs = find_people(video, info, self.detector, self.config.tracker, times, progress=progress)
        if info.num_frames and num_frames != info.num_frames:
            log.warning("%s: decoded %d frames, the container declares %d", video, num_frames, info.num_frames)
        meta = VideoMeta(str(video), key.video, info.width, info.height, info.fps, num_frames, info.rotation)
        models = {"detector": {"model": Path(self.detector_path).name, "backend": self.detector.backend},
                  "pose2d": {"model": self.pose_path.name, "name": self.topdown.config.name,
                             "input_size": list(self.topdown.config.input_size), "backend": self.topdown.backend}}  # fmt: skip
        if not logs:
            log.warning("no person found in %s (%d frames): the 2D result is empty", video, num_frames)
            tracks = []
        else:
            max_gap = self.config.tracker.max_gap_frames(float(info.fps))
            tracks = track_keypoints(video, self.topdown, logs, num_frames, max_gap, times,
                                     chunk_frames=self.config.chunk_frames, progress=progress)  # fmt: skip
        result = Pose2DResult(meta, tracks, models, key.to_json())
        if out_dir is not None:
            with times.stage("io"):
                result.save(out_dir)
        return result


def _load_if_current(out_dir: Path, key: ClipKey) -> Pose2DResult | None:
    """The saved result in ``out_dir`` if it was made from this video with these weights and settings."""
    meta_path = out_dir / RESULT_JSON
    if not meta_path.is_file() or not (out_dir / RESULT_NPZ).is_file():
        return None
    reason = stale_reason(read_saved_key(meta_path), key)
    if reason is not None:
        log.info("the 2D result in %s is out of date (%s): recomputing", out_dir, reason)
        return None
    try:
        result = Pose2DResult.load(out_dir)
    except (OSError, ValueError, KeyError) as e:
        log.warning("ignoring the unreadable 2D result in %s (%s)", out_dir, e)
        return None
    log.info("reusing the 2D result in %s (same video, weights and settings)", out_dir)
    return result


def estimate_2d(
    video: str | Path,
    config: Pose2DConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    runtime: Runtime | None = None,
    reuse: bool = True,
    progress: bool = True,
) -> Pose2DResult:
    """2D keypoints of every person in every frame of ``video`` (see the module docstring).

    Args:
        video: the video file.
        config: models and settings (defaults: yolo26l, ByteTrack, HRNet-W48 384x288).
        out_dir: where to save the result and look for a reusable one.
        runtime: device, threads, precision (default: :func:`core.runtime.configure_runtime`).
        reuse: take a saved result made from the same video, weights and settings.
        progress: show progress bars.
    """
    from core.runtime import configure_runtime

    stage = Pose2DStage(config or Pose2DConfig(), runtime or configure_runtime())
    return stage.run(video, out_dir, reuse=reuse, progress=progress)
