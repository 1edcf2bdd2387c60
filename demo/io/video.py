"""Video in and out with PyAV (FFmpeg): probing, decoding to BGR frames, H.264 encoding.

Frame rates stay exact fractions (29.97 fps is 30000/1001, never 29), rotation
metadata is applied the way FFmpeg's own players apply it, and an output video
appears under its final name only once it has been completely written.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from core.errors import UserError, brief
from core.files import AtomicSink, temp_path_beside

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"})


class VideoError(UserError):
    """A video cannot be read or written."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as displayed (rotation applied).

    Attributes:
        path: the file.
        width, height: displayed frame size in pixels.
        fps: exact average frame rate (frames per second, a fraction).
        num_frames: frame count the container declares (may be 0 or off for some files;
            the decoder's count is authoritative).
        rotation: degrees counter-clockwise applied to decoded frames for display.
        codec: video codec name.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    num_frames: int
    rotation: int
    codec: str

    @classmethod
    def probe(cls, path: str | Path) -> VideoInfo:
        """Open ``path`` and read its metadata and first frame (to learn the rotation).

        Raises:
            VideoError: missing, empty, not a video, no video stream, or no decodable frame.
        """
        path = Path(path)
        with open_video(path) as container:
            stream = container.streams.video[0]
            first = next(_decode(container, path), None)
            if first is None:
                raise VideoError(f"video {path} contains no decodable frames")
            rotation = int(getattr(first, "rotation", 0) or 0) % 360
            w, h = first.width, first.height
            if rotation in (90, 270):
                w, h = h, w
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise VideoError(f"video {path} declares no frame rate")
            frames = stream.frames
            if not frames and stream.duration and stream.time_base:
                frames = int(round(float(stream.duration * stream.time_base * rate)))
            return cls(path, w, h, Fraction(rate), int(frames or 0), rotation, stream.codec_context.name)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` pixels."""
        return self.width, self.height


def open_video(path: Path) -> av.container.InputContainer:
    """Open a file with a video stream, or raise one clear :class:`VideoError`."""
    if not path.exists():
        raise VideoError(f"video {path} does not exist")
    if path.is_dir():
        raise VideoError(f"video {path} is a folder, not a file (use --folder for a folder of videos)")
    if path.stat().st_size == 0:
        raise VideoError(f"video {path} is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise VideoError(f"video {path} is not a readable video file ({brief(e)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream")
    return container


def _decode(container: av.container.InputContainer, path: Path) -> Iterator[av.VideoFrame]:
    """Decoded frames until the end, or until the data is corrupt (then a warning, not a crash)."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame- and slice-threaded decoding
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.error.InvalidDataError as e:
                log.warning("%s: skipping a corrupt packet (%s)", path, brief(e))
    except av.error.FFmpegError as e:
        log.warning("%s: decoding stopped early (%s); the file may be truncated", path, brief(e))


def read_frames(path: str | Path, rotation: int | None = None) -> Iterator[np.ndarray]:
    """Every frame of a video, in order, as ``(H, W, 3)`` uint8 BGR with rotation applied.

    Args:
        path: the video.
        rotation: override the rotation read from the frames (degrees counter-clockwise).
    """
    path = Path(path)
    container = open_video(path)
    try:
        for frame in _decode(container, path):
            image = frame.to_ndarray(format="bgr24")
            turn = (rotation if rotation is not None else int(getattr(frame, "rotation", 0) or 0)) % 360
            if turn:
                image = np.ascontiguousarray(np.rot90(image, turn // 90))
            yield image
    finally:
        container.close()


class H264Writer(AtomicSink):
    """Streams BGR frames into an H.264 (yuv420p) mp4 that browsers play.

    Frames go straight from memory to the encoder. The file is written under a
    temporary name and renamed to ``path`` only when :meth:`close` succeeds; if the
    ``with`` block raises, nothing is left behind.

    Args:
        path: output ``.mp4``.
        fps: frame rate, exact (e.g. ``Fraction(30000, 1001)``).
        size: ``(width, height)`` in pixels; both must be even (yuv420p).
        crf: x264 constant rate factor (lower is better quality; 18-23 is visually good).
    """

    def __init__(self, path: str | Path, fps: Fraction, size: tuple[int, int], crf: int = 20, preset: str = "veryfast") -> None:
        width, height = size
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even frame sizes, got {width}x{height}")
        self.path = Path(path)
        self.size = size
        self.frames = 0
        self._tmp = temp_path_beside(self.path, ".part.mp4")  # the suffix tells FFmpeg the container
        # faststart puts the index first, so browsers start playing before the whole file arrives.
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 BGR frame."""
        if frame.shape[1::-1] != self.size:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the video is {self.size[0]}x{self.size[1]}")
        video_frame = av.VideoFrame.from_ndarray(frame, format="bgr24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder and publish the file under its final name."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Discard everything written so far."""
        try:
            self._container.close()
        except av.error.FFmpegError:
            pass
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class VideoMeta:
    """The video a result belongs to.

    Attributes:
        path: as given when the result was made.
        sha256: content fingerprint of the file.
        width, height: displayed frame size in pixels.
        fps: exact frame rate.
        num_frames: frames actually decoded.
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
