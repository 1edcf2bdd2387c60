"""Per-frame status of a person's track, shared by every stage after tracking (stored as
uint8 in the results): a frame is DETECTED (a detection was matched), FILLED (a short
miss inside the track, interpolated) or ABSENT (outside the track's lifetime, or a
longer miss); and the span of frames a track covers (:class:`TrackSpan`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

import numpy as np


class FrameState(IntEnum):
    """Per-frame status of one track (stored as uint8)."""

    ABSENT = 0
    DETECTED = 1
    FILLED = 2


@dataclass
class TrackSpan:
    """The frames one person's track covers: rows ``0 .. n-1`` of its arrays are video
    frames ``start .. start + n - 1`` (from the track's first to its last frame with a
    pose; frames inside it may still be ABSENT). Results hold each track over its own span,
    so their memory grows with the frames where people are present, not tracks x frames.

    Attributes:
        track_id: the tracker's id (stable across the video).
        start: the video frame of row 0.
        state: ``(n,)`` uint8 :class:`FrameState` per row.
    """

    track_id: int
    start: int
    state: np.ndarray

    @property
    def stop(self) -> int:
        """One past the span's last video frame."""
        return self.start + len(self.state)

    @property
    def frames(self) -> np.ndarray:
        """``(n,)`` the video frame of every row."""
        return np.arange(self.start, self.stop)

    @property
    def present(self) -> np.ndarray:
        """``(n,)`` True where the person has a pose (detected or filled)."""
        return self.state != FrameState.ABSENT

    @property
    def detected(self) -> np.ndarray:
        """``(n,)`` True where the pose came from a detection (not interpolated, not absent)."""
        return self.state == FrameState.DETECTED

    def row(self, frame: int) -> int | None:
        """The row of video frame ``frame``, or None outside the span."""
        i = frame - self.start
        return i if 0 <= i < len(self.state) else None

    def dense(self, name: str, num_frames: int) -> np.ndarray:
        """One array of the track over the whole video: ``(num_frames, ...)``, the span's
        rows at their frames, NaN elsewhere (0, i.e. ABSENT, for ``state``)."""
        values = np.asarray(getattr(self, name))
        fill = np.nan if values.dtype.kind == "f" else 0
        out = np.full((num_frames, *values.shape[1:]), fill, values.dtype)
        out[self.start : self.stop] = values[: max(0, num_frames - self.start)]
        return out


Span = TypeVar("Span", bound=TrackSpan)


def find_track(tracks: Sequence[Span], track_id: int) -> Span:
    """The track with ``track_id`` (results join 2D and 3D tracks by id, never by position).

    Raises:
        KeyError: naming the ids there are.
    """
    for t in tracks:
        if t.track_id == track_id:
            return t
    raise KeyError(f"no track {track_id}; tracks: {[t.track_id for t in tracks]}")
