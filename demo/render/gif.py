"""Small GIFs with bounded memory: frames piped into FFmpeg (the binary imageio-ffmpeg
ships) and kept losslessly in a temporary FFV1 file; when the clip ends, one palette is
computed for the whole clip (``palettegen``, a pass over the file) and applied with
ordered dithering (``paletteuse``, a second pass).

Why two passes: the one-pass filter graph (``split`` + ``palettegen`` + ``paletteuse``)
holds every frame in memory until the palette is known, about 0.7 MB per frame (a
10-minute clip at 10 fps needs ~4 GB); each pass here streams, so memory stays flat
whatever the length (``bench/bench_memory.py``). A palette fitted to the clip halves the
file against FFmpeg's default GIF palette (measured on the sample clip: 2.0 vs 4.6 MB for
60 frames at 480x360), and ordered (Bayer) dithering keeps colours steady from frame to
frame, which compresses better than error diffusion.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from core.errors import UserError
from core.files import AtomicSink, temp_path_beside

_PALETTE = "palettegen=stats_mode=diff"
_APPLY = "[0:v][1:v]paletteuse=dither=bayer:bayer_scale=3:diff_mode=rectangle"


@dataclass(frozen=True)
class GifOptions:
    """Which frames go into the GIF and at what size.

    Attributes:
        width: output width in pixels (height follows the aspect ratio, rounded to even).
        fps: GIF frame rate; frames are picked from the video at this rate (never more
            than the video's own). GIF timing has 1/100 s steps, so 10, 20, 25 or 50 are exact.
        start, end: frame range of the video (``end`` exclusive, ``None`` = to the end).
    """

    width: int = 480
    fps: float = 10.0
    start: int = 0
    end: int | None = None

    def __post_init__(self) -> None:
        if self.width < 16 or self.fps <= 0:
            raise UserError(f"GIF width must be at least 16 px and fps positive, got {self.width}, {self.fps}")
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise UserError(f"GIF frame range {self.start}:{self.end} is empty or negative")

    def frame_indices(self, num_frames: int, video_fps: Fraction) -> list[int]:
        """Video frames to use, sampled at ``fps`` from the range."""
        stop = min(num_frames, self.end if self.end is not None else num_frames)
        if self.start >= stop:
            raise UserError(f"GIF frame range {self.start}:{self.end} is outside the video's {num_frames} frames")
        step = max(1.0, float(video_fps) / self.fps)
        picks = np.arange(self.start, stop, step)
        return sorted(set(np.floor(picks).astype(int).tolist()))

    def output_fps(self, video_fps: Fraction) -> float:
        return min(self.fps, float(video_fps))


class GifWriter(AtomicSink):
    """Streams BGR frames into a palette-optimised GIF, published only when complete (see
    the module docstring). Use it in ``with`` (or an ExitStack): on an error it kills its
    FFmpeg child and removes every temporary file.

    Args:
        path: output ``.gif``.
        fps: frame rate of the GIF.
        size: ``(width, height)`` of the frames that will be written (they are resized to ``width``).
        width: GIF width in pixels.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], width: int) -> None:
        self.path = Path(path)
        w, h = size
        self.out_size = (width, max(2, round(h * width / w / 2) * 2))
        self.frames = 0
        self._ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        self._frames_file = temp_path_beside(self.path, ".frames.mkv")
        self._palette = temp_path_beside(self.path, ".palette.png")
        self._tmp = temp_path_beside(self.path, ".part.gif")
        cmd = [
            self._ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{self.out_size[0]}x{self.out_size[1]}",
            "-framerate", f"{fps:g}", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "bgr0", str(self._frames_file),
        ]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 BGR frame."""
        small = cv2.resize(frame, self.out_size, interpolation=cv2.INTER_AREA)
        assert self._proc is not None and self._proc.stdin is not None, "the GIF writer is closed"
        self._proc.stdin.write(np.ascontiguousarray(small).tobytes())
        self.frames += 1

    def _run(self, *args: str) -> None:
        done = subprocess.run([self._ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args],
                              capture_output=True, check=False)  # fmt: skip
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()
            raise UserError(f"writing {self.path} failed: {err.splitlines()[-1] if err else f'ffmpeg exit {done.returncode}'}")

    def close(self) -> Path:
        """Finish the frames file, compute the palette, write the GIF and publish it."""
        try:
            proc, self._proc = self._proc, None
            assert proc is not None and proc.stdin is not None, "the GIF writer is closed"
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.wait() != 0 or self.frames == 0:
                raise UserError(f"writing {self.path} failed: {err.strip().splitlines()[-1] if err.strip() else 'no frames'}")
            self._run("-i", str(self._frames_file), "-vf", _PALETTE, "-frames:v", "1", "-update", "1", str(self._palette))
            self._run("-i", str(self._frames_file), "-i", str(self._palette), "-lavfi", _APPLY, "-loop", "0",
                      "-f", "gif", str(self._tmp))  # fmt: skip
            os.replace(self._tmp, self.path)
            return self.path
        finally:
            self._cleanup()

    def abort(self) -> None:
        """Stop FFmpeg and remove the temporary files (nothing is published)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        self._cleanup()

    def _cleanup(self) -> None:
        for tmp in (self._frames_file, self._palette, self._tmp):
            tmp.unlink(missing_ok=True)
