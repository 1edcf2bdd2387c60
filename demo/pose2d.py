"""The 2D stage: video -> every person's 2D keypoints in every frame, saved and cached.

Two passes over the decoded video, so the keypoint network never sees a crop that is
thrown away:

1. detect people (YOLO, batches of frames) and track them (ByteTrack), keep the tracks
   worth keeping (:func:`demo.track.select_tracks`);
2. decode again and run HRNet on the kept tracks' boxes, crops of many frames per batch.

The result (:class:`Pose2DResult`) has one entry per decoded frame for every track: a
frame is DETECTED, FILLED (short gap, interpolated) or ABSENT (NaN). It is written to
``<out>/pose2d.npz`` with a JSON sidecar ``pose2d.json`` (metadata and the cache key,
written last, so a result without it is never taken as finished), plus the seeds'
``input_2D/keypoints.npz`` for the longest track. Running again on the same video with
the same models and settings reuses the saved result.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lifter.errors import UserError
from lifter.files import atomic_output
from lifter.inference import fill_missing
from lifter.registry import resolve_weights

from .detect import DetectorConfig, Detections, PersonDetector, resolve_detector_weights
from .hrnet import load_hrnet
from .skeleton import coco_to_h36m
from .topdown import IMAGENET_NORMALIZATION, SEED_NORMALIZATION, TopDownEstimator
from .track import FrameState, PersonTracker, TrackerConfig, TrackLog, collect_tracks, dense_boxes, fill_gaps, select_tracks
from .video import VideoError, VideoInfo, file_fingerprint, read_frames
from .weights import DEFAULT_POSE2D, pose2d_entries

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RESULT_NPZ = "pose2d.npz"
RESULT_JSON = "pose2d.json"
SEEDS_KEYPOINTS = Path("input_2D") / "keypoints.npz"
NUM_JOINTS = 17
NORMALIZATIONS = {"seed": SEED_NORMALIZATION, "imagenet": IMAGENET_NORMALIZATION}


@dataclass(frozen=True)
class Pose2DConfig:
    """Models and settings of the 2D stage.

    Attributes:
        detector: person detector (model, thresholds, batch size).
        tracker: tracking and which tracks to keep.
        pose_model: HRNet registry name (``hrnet-w48-384x288``) or checkpoint path.
        pose_input_size: crop ``(width, height)`` for an HRNet file the registry does not
            know and whose width has no official crop size (e.g. the test fixtures).
        pose_normalization: HRNet input statistics: ``seed`` (default) reproduces the seeds'
            demos exactly (ImageNet mean/std applied to BGR before the channel swap, so red
            and blue get each other's statistics); ``imagenet`` is what HRNet was trained with.
        pose_batch_size: crops per HRNet forward pass (bounds memory); ``None``: 4 on the
            CPU, 64 on CUDA (see :class:`demo.topdown.TopDownEstimator`).
        fp16: half precision for both networks; ``None`` means on CUDA only.
        chunk_frames: decoded frames held at once in the keypoint pass.
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    pose_model: str = DEFAULT_POSE2D
    pose_input_size: tuple[int, int] | None = None
    pose_normalization: str = "seed"
    pose_batch_size: int | None = None
    fp16: bool | None = None
    chunk_frames: int = 32


@dataclass
class Track2D:
    """One person over the whole video; every array has one row per decoded frame.

    Attributes:
        track_id: the tracker's id (stable across the video).
        state: ``(T,)`` uint8 :class:`demo.track.FrameState` (0 absent, 1 detected, 2 filled).
        boxes: ``(T, 4)`` float32 xyxy pixels; NaN where absent.
        box_scores: ``(T,)`` float32 detector confidence; 0 where filled, NaN where absent.
        coco, coco_scores: ``(T, 17, 2)`` pixels and ``(T, 17)`` HRNet scores, COCO order.
        h36m, h36m_scores: the same converted to Human3.6M order (the lifters' input).
    """

    track_id: int
    state: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    coco: np.ndarray
    coco_scores: np.ndarray
    h36m: np.ndarray
    h36m_scores: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """``(T,)`` True where the person has keypoints (detected or filled)."""
        return self.state != FrameState.ABSENT

    @property
    def lifetime(self) -> tuple[int, int]:
        """First and last frame with keypoints (inclusive)."""
        idx = np.flatnonzero(self.present)
        return int(idx[0]), int(idx[-1])

    def summary(self) -> dict[str, int]:
        first, last = self.lifetime
        return {
            "track_id": self.track_id,
            "first_frame": first,
            "last_frame": last,
            "detected": int((self.state == FrameState.DETECTED).sum()),
            "filled": int((self.state == FrameState.FILLED).sum()),
        }


_TRACK_ARRAYS = ("state", "boxes", "box_scores", "coco", "coco_scores", "h36m", "h36m_scores")


@dataclass(frozen=True)
class VideoMeta:
    """The video a result belongs to.

    Attributes:
        path: as given when the result was made.
        sha256: content fingerprint of the file.
        width, height: displayed frame size in pixels.
        fps: exact frame rate.
        num_frames: frames actually decoded (the length of every track array).
        rotation: degrees applied to the decoded frames.
    """

    path: str
    sha256: str
    width: int
    height: int
    fps: Fraction
    num_frames: int
    rotation: int

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["fps_float"] = float(self.fps)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> VideoMeta:
        d = {k: v for k, v in d.items() if k != "fps_float"}
        return cls(**dict(d, fps=Fraction(d["fps"])))


@dataclass
class Pose2DResult:
    """Everything the 2D stage found in one video.

    Attributes:
        video: what video it is.
        tracks: kept people, longest first.
        models: which models and settings produced it (also the cache key).
    """

    video: VideoMeta
    tracks: list[Track2D]
    models: dict[str, Any]
    reused: bool = False  # True when read back from a previous run

    @property
    def num_frames(self) -> int:
        return self.video.num_frames

    def save(self, out_dir: str | Path) -> None:
        """Write ``pose2d.npz``, the seeds' ``input_2D/keypoints.npz`` and, last, ``pose2d.json``."""
        out_dir = Path(out_dir)
        t, n = self.num_frames, len(self.tracks)
        arrays: dict[str, np.ndarray] = {"track_ids": np.array([tr.track_id for tr in self.tracks], np.int64)}
        for name in _TRACK_ARRAYS:
            shape = _empty_shape(name, t)
            arrays[name] = np.stack([getattr(tr, name) for tr in self.tracks]) if n else np.zeros((0, *shape))
        arrays["state"] = arrays["state"].astype(np.uint8)
        with atomic_output(out_dir / RESULT_NPZ) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        if self.tracks:
            self.export_seeds_keypoints(out_dir / SEEDS_KEYPOINTS)
        meta = {
            "format_version": FORMAT_VERSION,
            "video": self.video.to_json(),
            "models": self.models,
            "tracks": [tr.summary() for tr in self.tracks],
            "arrays": {k: list(v.shape) for k, v in arrays.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_output(out_dir / RESULT_JSON) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))

    def export_seeds_keypoints(self, path: str | Path, track_index: int = 0) -> None:
        """The seeds' ``input_2D/keypoints.npz``: ``reconstruction`` ``(1, T, 17, 2)`` H36M pixels
        of one track. Frames without the person hold the nearest detected pose (the seeds'
        lifting cannot take gaps); ``valid`` ``(T,)`` marks the frames that were not held."""
        track = self.tracks[track_index]
        held, _ = fill_missing(np.where(track.present[:, None, None], track.h36m, np.nan))
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, reconstruction=held[None], valid=track.present)

    @classmethod
    def load(cls, out_dir: str | Path) -> Pose2DResult:
        """Read a saved result (both files must be there)."""
        out_dir = Path(out_dir)
        meta = json.loads((out_dir / RESULT_JSON).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{out_dir / RESULT_JSON} has format {meta.get('format_version')}, not {FORMAT_VERSION}")
        with np.load(out_dir / RESULT_NPZ) as data:
            tracks = [
                Track2D(int(tid), **{name: data[name][i] for name in _TRACK_ARRAYS})
                for i, tid in enumerate(data["track_ids"])
            ]
        return cls(VideoMeta.from_json(meta["video"]), tracks, meta["models"], reused=True)


def _empty_shape(name: str, t: int) -> tuple[int, ...]:
    return {
        "state": (t,), "boxes": (t, 4), "box_scores": (t,), "coco": (t, NUM_JOINTS, 2),
        "coco_scores": (t, NUM_JOINTS), "h36m": (t, NUM_JOINTS, 2), "h36m_scores": (t, NUM_JOINTS),
    }[name]  # fmt: skip


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def cached_fingerprint(path: Path) -> str:
    """:func:`file_fingerprint`, remembered per (path, size, mtime) so a batch hashes each weights file once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = file_fingerprint(path)
    return _FINGERPRINTS[key]


def _batched(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    while chunk := list(islice(frames, size)):
        yield chunk


class Pose2DEstimator:
    """The 2D stage with its models, loaded on first use and kept for many videos.

    Args:
        config: models and settings.
        device: where the networks run.
    """

    def __init__(self, config: Pose2DConfig | None = None, device: torch.device | str = "cpu") -> None:
        self.config = config or Pose2DConfig()
        self.device = torch.device(device)
        self.fp16 = self.config.fp16 if self.config.fp16 is not None else self.device.type == "cuda"
        if self.config.pose_normalization not in NORMALIZATIONS:
            raise UserError(f"unknown 2D normalisation {self.config.pose_normalization!r}: use seed or imagenet")
        self.pose_path, self.pose_entry = resolve_weights(self.config.pose_model, pose2d_entries(), "2D pose model")
        # The registry knows a named model's crop size; a bare file may need it given.
        self.pose_input_size = self.pose_entry.input_size if self.pose_entry else self.config.pose_input_size
        self._detector: PersonDetector | None = None
        self._topdown: TopDownEstimator | None = None

    @property
    def detector(self) -> PersonDetector:
        if self._detector is None:
            det_config = self.config.detector
            if det_config.half is None:
                det_config = DetectorConfig(**{**asdict(det_config), "half": self.fp16})
            self._detector = PersonDetector(det_config, self.device)
        return self._detector

    @property
    def topdown(self) -> TopDownEstimator:
        if self._topdown is None:
            model, hrnet_config = load_hrnet(self.pose_path, device=self.device, input_size=self.pose_input_size)
            self._topdown = TopDownEstimator(
                model,
                hrnet_config,
                self.device,
                batch_size=self.config.pose_batch_size,
                fp16=self.fp16,
                normalization=NORMALIZATIONS[self.config.pose_normalization],
            )
        return self._topdown

    def models_key(self) -> dict[str, Any] | None:
        """Identity of the models and settings (the cache key), or None if it cannot be known
        without running (a detector built from a yaml has fresh random weights each time)."""
        c = self.config
        if c.detector.model.endswith((".yaml", ".yml")):
            return None
        det_path = Path(self._detector.weights if self._detector else resolve_detector_weights(c.detector.model))
        det = {k: v for k, v in asdict(c.detector).items() if k not in ("batch_size", "half")}
        return {
            "detector": dict(det, model=det_path.name, sha256=cached_fingerprint(det_path)),
            "pose2d": {
                "model": self.pose_path.name,
                "sha256": cached_fingerprint(self.pose_path),
                "input_size": list(self.pose_input_size or []),
                "normalization": c.pose_normalization,
            },
            "tracker": asdict(c.tracker),
            "fp16": self.fp16,
        }

    def run(
        self,
        video: str | Path,
        out_dir: str | Path | None = None,
        *,
        reuse: bool = True,
        progress: bool = True,
        info: VideoInfo | None = None,
    ) -> Pose2DResult:
        """2D keypoints of everyone in ``video``; saved to / reused from ``out_dir`` when given.
        ``info`` is the video's :class:`VideoInfo` if the caller has already probed it.

        Raises:
            VideoError: the video cannot be read or has no frames.
            CheckpointError: a model file is missing or wrong.
        """
        video = Path(video)
        info = info or VideoInfo.probe(video)
        sha = file_fingerprint(video)
        key = self.models_key()
        if out_dir is not None and reuse and key is not None:
            cached = _load_if_current(Path(out_dir), sha, key)
            if cached is not None:
                log.info("reusing the 2D result in %s (same video, models and settings)", out_dir)
                return cached
        if key is None:
            log.info("the detector has random weights (%s): its 2D result is not cached", self.config.detector.model)
        result = self._estimate(video, info, sha, key or {"detector": {"model": self.config.detector.model}}, progress)
        if out_dir is not None:
            result.save(out_dir)
        return result

    def _estimate(self, video: Path, info: VideoInfo, sha: str, key: dict[str, Any], progress: bool) -> Pose2DResult:
        _ = self.detector, self.topdown  # load both networks first: a bad file fails before any decoding
        detections, tracks = self._detect_and_track(video, info, progress)
        num_frames = len(detections)
        if info.num_frames and num_frames != info.num_frames:
            log.warning("%s: decoded %d frames, the container declares %d", video, num_frames, info.num_frames)
        meta = VideoMeta(str(video), sha, info.width, info.height, info.fps, num_frames, info.rotation)
        if not tracks:
            log.warning("no person found in %s (%d frames): the 2D result is empty", video, num_frames)
            return Pose2DResult(meta, [], key)
        return Pose2DResult(meta, self._keypoints(video, info, tracks, num_frames, progress), key)

    def _detect_and_track(self, video: Path, info: VideoInfo, progress: bool) -> tuple[list[Detections], list[TrackLog]]:
        tracker = PersonTracker(self.config.tracker)
        detections: list[Detections] = []
        matches: list[tuple[int, int, int]] = []
        bar = tqdm(total=info.num_frames or None, unit="frame", desc="detect+track", disable=not progress, leave=False)
        with bar:
            for chunk in _batched(read_frames(video), max(self.detector.batch_size, 16)):
                found = self.detector(chunk)
                for frame, dets in zip(chunk, found):
                    matches += tracker.update(dets, frame)
                detections += found
                bar.update(len(chunk))
        if not detections:
            raise VideoError(f"video {video} contains no decodable frames")
        tracks = select_tracks(collect_tracks(detections, matches), self.config.tracker)
        log.info("%s: %d frames, %d track(s) kept", video.name, len(detections), len(tracks))
        return detections, tracks

    def _keypoints(self, video: Path, info: VideoInfo, logs: list[TrackLog], num_frames: int, progress: bool) -> list[Track2D]:
        dense = [dense_boxes(t, num_frames, self.config.tracker.max_gap) for t in logs]
        coco = np.full((len(logs), num_frames, NUM_JOINTS, 2), np.nan, np.float32)
        coco_scores = np.full((len(logs), num_frames, NUM_JOINTS), np.nan, np.float32)
        # Per frame, the tracks detected there: only those boxes are cropped.
        people = [[k for k, (_, _, state) in enumerate(dense) if state[t] == FrameState.DETECTED] for t in range(num_frames)]
        bar = tqdm(total=sum(map(len, people)), unit="person", desc="keypoints", disable=not progress, leave=False)
        with bar:
            start = 0
            for chunk in _batched(read_frames(video), self.config.chunk_frames):
                ts = [start + i for i, _ in enumerate(chunk) if start + i < num_frames and people[start + i]]
                poses = self.topdown.estimate(
                    (chunk[t - start] for t in ts), [np.stack([dense[k][0][t] for k in people[t]]) for t in ts]
                )
                for t, p in zip(ts, poses):
                    coco[people[t], t], coco_scores[people[t], t] = p.keypoints, p.scores
                    bar.update(len(people[t]))
                start += len(chunk)
        if start != num_frames:
            raise VideoError(f"video {video} decoded to {start} frames the second time, {num_frames} the first")
        tracks = []
        for k, (log_, (boxes, box_scores, state)) in enumerate(zip(logs, dense)):
            kp, sc = fill_gaps(coco[k], state), fill_gaps(coco_scores[k], state)
            h36m, h36m_scores = coco_to_h36m(kp, sc)
            tracks.append(Track2D(log_.track_id, state, boxes, box_scores, kp, sc, h36m, h36m_scores))
        return tracks


def _load_if_current(out_dir: Path, video_sha: str, key: dict[str, Any]) -> Pose2DResult | None:
    """The saved result in ``out_dir`` if it was made from this video with these models."""
    meta_path = out_dir / RESULT_JSON
    if not meta_path.is_file() or not (out_dir / RESULT_NPZ).is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("video", {}).get("sha256") != video_sha or meta.get("models") != _jsonable(key):
            log.info("the 2D result in %s is for another video or other models: recomputing", out_dir)
            return None
        return Pose2DResult.load(out_dir)
    except (OSError, ValueError, KeyError) as e:
        log.warning("ignoring the unreadable 2D result in %s (%s)", out_dir, e)
        return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def estimate_2d(
    video: str | Path,
    config: Pose2DConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    device: torch.device | str = "cpu",
    reuse: bool = True,
    progress: bool = True,
) -> Pose2DResult:
    """2D keypoints of every person in every frame of ``video`` (see the module docstring).

    Args:
        video: the video file.
        config: models and settings (defaults: yolo26l, ByteTrack, HRNet-W48 384x288).
        out_dir: where to save the result and look for a reusable one.
        device: where the networks run.
        reuse: take a saved result made from the same video, models and settings.
        progress: show progress bars.
    """
    return Pose2DEstimator(config, device).run(video, out_dir, reuse=reuse, progress=progress)
