"""The 2D stage's result: every kept person's track over its span of the video
(:class:`Track2D`), and its storage.

Files (format 3), in an output folder:

- ``pose2d.npz``: the tracks as rows (:mod:`core.npz`: ``track_ids (N,)``, ``row_track
  (M,)``, ``frame (M,)``), with per row ``state`` (uint8 :class:`core.frames.FrameState`),
  ``boxes (M, 4)`` xyxy pixels, ``box_scores (M,)``, ``coco (M, 17, 2)`` pixels,
  ``coco_scores (M, 17)``, ``h36m (M, 17, 2)`` and ``h36m_scores (M, 17)``; NaN where absent.
- ``pose2d.json``: the video, the models, the cache key, a summary per track, and
  ``npz_sha256``, the content hash of the ``pose2d.npz`` it describes. It is removed before
  the arrays are replaced and written after them, so a run interrupted in between leaves
  arrays with no record (recomputed next time), never arrays under another setting's key;
  a record whose hash does not match the arrays is not trusted either.
- ``input_2D/keypoints.npz``: the seeds' layout for the longest track.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.files import atomic_output, file_fingerprint
from core.frames import FrameState, TrackSpan, find_track
from core.gaps import interpolate_gaps
from core.npz import NpzWriter, read_track_rows, write_track_rows

from ..io.video import VideoMeta

FORMAT_VERSION = 3
RESULT_NPZ = "pose2d.npz"
RESULT_JSON = "pose2d.json"
SEEDS_KEYPOINTS = Path("input_2D") / "keypoints.npz"
NUM_JOINTS = 17

#: Per-row arrays of a track: name -> (shape of one row, dtype).
COLUMNS: dict[str, tuple[tuple[int, ...], Any]] = {
    "state": ((), np.uint8),
    "boxes": ((4,), np.float32),
    "box_scores": ((), np.float32),
    "coco": ((NUM_JOINTS, 2), np.float32),
    "coco_scores": ((NUM_JOINTS,), np.float32),
    "h36m": ((NUM_JOINTS, 2), np.float32),
    "h36m_scores": ((NUM_JOINTS,), np.float32),
}


@dataclass
class Track2D(TrackSpan):
    """One person over their span of the video (see :class:`core.frames.TrackSpan`): row
    ``i`` of every array is video frame ``start + i``.

    Attributes:
        boxes: ``(n, 4)`` float32 xyxy pixels; NaN where absent.
        box_scores: ``(n,)`` float32 detector confidence; 0 where filled, NaN where absent.
        coco, coco_scores: ``(n, 17, 2)`` pixels and ``(n, 17)`` keypoint scores, COCO order.
        h36m, h36m_scores: the same converted to Human3.6M order (the lifters' input).
    """

    boxes: np.ndarray
    box_scores: np.ndarray
    coco: np.ndarray
    coco_scores: np.ndarray
    h36m: np.ndarray
    h36m_scores: np.ndarray

    @property
    def lifetime(self) -> tuple[int, int]:
        """First and last video frame with keypoints (inclusive)."""
        idx = np.flatnonzero(self.present)
        return self.start + int(idx[0]), self.start + int(idx[-1])

    def summary(self) -> dict[str, int]:
        first, last = self.lifetime
        return {
            "track_id": self.track_id,
            "first_frame": first,
            "last_frame": last,
            "detected": int((self.state == FrameState.DETECTED).sum()),
            "filled": int((self.state == FrameState.FILLED).sum()),
        }


@dataclass
class Pose2DResult:
    """Everything the 2D stage found in one video.

    Attributes:
        video: what video it is.
        tracks: kept people, longest first.
        models: which models and settings produced it (file names, for people).
        key: the cache key it was made with (JSON of :class:`demo.cache.ClipKey`).
        reused: True when read back from a previous run.
    """

    video: VideoMeta
    tracks: list[Track2D]
    models: dict[str, Any]
    key: dict[str, Any] | None = None
    reused: bool = False

    @property
    def num_frames(self) -> int:
        return self.video.num_frames

    def track(self, track_id: int) -> Track2D:
        """The track with this id."""
        return find_track(self.tracks, track_id)

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``pose2d.npz``, the seeds' ``input_2D/keypoints.npz`` and, last,
        ``pose2d.json`` naming the arrays' sha256 (see the module docstring); returns the paths."""
        out_dir = Path(out_dir)
        npz, record = out_dir / RESULT_NPZ, out_dir / RESULT_JSON
        record.unlink(missing_ok=True)  # from here on no record vouches for the arrays
        with NpzWriter(npz) as w:
            write_track_rows(w, self.tracks, COLUMNS)
            w.add("num_frames", np.array(self.num_frames))
        paths = [npz]
        if self.tracks:
            paths.append(self.export_seeds_keypoints(out_dir / SEEDS_KEYPOINTS))
        meta = {
            "format_version": FORMAT_VERSION,
            "video": self.video.to_json(),
            "source": str(Path(self.video.path).resolve()),
            "models": self.models,
            "key": self.key,
            "npz_sha256": file_fingerprint(npz),
            "tracks": [tr.summary() for tr in self.tracks],
            "rows": sum(len(t.state) for t in self.tracks),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_output(record) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
        return [*paths, record]

    def export_seeds_keypoints(self, path: str | Path, track_index: int = 0) -> Path:
        """The seeds' ``input_2D/keypoints.npz``: ``reconstruction`` ``(1, T, 17, 2)`` H36M pixels
        of one track over the whole video. Frames without the person hold the nearest
        detected pose (the seeds' lifting cannot take gaps); ``valid`` ``(T,)`` marks the
        frames that were not held."""
        track = self.tracks[track_index]
        present = track.dense("state", self.num_frames) != FrameState.ABSENT
        held = interpolate_gaps(track.dense("h36m", self.num_frames), present)
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, reconstruction=held[None], valid=present)
        return Path(path)

    @classmethod
    def load(cls, out_dir: str | Path) -> Pose2DResult:
        """Read a saved result (both files must be there, and match).

        Raises:
            ValueError: another format, or arrays that are not the ones the record names.
        """
        out_dir = Path(out_dir)
        meta = json.loads((out_dir / RESULT_JSON).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{out_dir / RESULT_JSON} has format {meta.get('format_version')}, not {FORMAT_VERSION}")
        if meta.get("npz_sha256") != file_fingerprint(out_dir / RESULT_NPZ):
            raise ValueError(f"{out_dir / RESULT_NPZ} is not the file {RESULT_JSON} describes (an interrupted write?)")
        with np.load(out_dir / RESULT_NPZ) as data:
            rows = read_track_rows(data, list(COLUMNS))
        tracks = [Track2D(tid, start, **cols) for tid, start, cols in rows]
        return cls(VideoMeta.from_json(meta["video"]), tracks, meta["models"], meta.get("key"), reused=True)
