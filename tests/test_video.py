"""Video in and out: metadata, exact frame rates, rotation, bad files, H.264 output."""
from __future__ import annotations

import hashlib
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from core.files import sha256_of
from demo.io.video import H264Writer, VideoError, VideoInfo, read_frames

from .conftest import media_path


def _write(path: Path, frames: int, size: tuple[int, int] = (64, 48), fps: Fraction = Fraction(25)) -> Path:
    rng = np.random.default_rng(0)
    with H264Writer(path, fps, size) as w:
        for _ in range(frames):
            w.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    return path


def test_probe_the_shared_clip() -> None:
    info = VideoInfo.probe(media_path("vtest_15s.mp4"))
    assert (info.width, info.height, info.fps, info.num_frames, info.rotation) == (768, 576, Fraction(10), 150, 0)
    frames = list(read_frames(info.path))
    assert len(frames) == 150 and frames[0].shape == (576, 768, 3) and frames[0].dtype == np.uint8


def test_fractional_frame_rate_survives_a_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path / "ntsc.mp4", 12, fps=Fraction(30000, 1001))
    info = VideoInfo.probe(path)
    assert info.fps == Fraction(30000, 1001) and info.num_frames == 12
    assert info.codec == "h264"
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_rotation_metadata_is_applied_like_ffmpeg(tmp_path: Path) -> None:
    src = _write(tmp_path / "src.mp4", 3, size=(64, 48))
    rotated = tmp_path / "rot.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-display_rotation", "90", "-i", str(src), "-c", "copy",
                    str(rotated)], check=True)  # fmt: skip
    reference = tmp_path / "ref.png"
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(rotated), "-frames:v", "1", str(reference)], check=True)
    info = VideoInfo.probe(rotated)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    ours = next(read_frames(rotated))
    theirs = cv2.imread(str(reference))
    assert ours.shape == theirs.shape == (64, 48, 3)
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 2.0


def test_writer_publishes_only_complete_files(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with H264Writer(out, Fraction(10), (32, 32)) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="even frame sizes"):
        H264Writer(out, Fraction(10), (33, 32))
    with H264Writer(out, Fraction(10), (32, 32)) as w:
        with pytest.raises(ValueError, match="frame is 16x32"):
            w.write(np.zeros((32, 16, 3), np.uint8))
        w.write(np.zeros((32, 32, 3), np.uint8))
    assert VideoInfo.probe(out).num_frames == 1


@pytest.mark.parametrize(
    "case,message",
    [
        ("missing", r"missing\.mp4 does not exist"),
        ("empty", r"is empty \(0 bytes\)"),
        ("text", "is not a readable video file"),
        ("truncated_head", "is not a readable video file"),
        ("folder", "is a folder, not a file"),
        ("no_frames", "has no video stream"),
    ],
)
def test_bad_videos_give_one_clear_error(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / f"{case}.mp4"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is a text file renamed to .mp4\n")
    elif case == "truncated_head":
        path.write_bytes(media_path("vtest_15s.mp4").read_bytes()[:4000])
    elif case == "folder":
        path.mkdir()
    elif case == "no_frames":  # a valid mp4 header with a video track that holds no frame
        c = av.open(str(path), "w", format="mp4")
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        c.start_encoding()
        c.close()
    with pytest.raises(VideoError, match=message) as err:
        VideoInfo.probe(path)
    assert "\n" not in str(err.value)


def test_truncated_tail_decodes_what_is_there(tmp_path: Path) -> None:
    """A faststart mp4 cut short: the frames before the cut decode, with a warning."""
    full = _write(tmp_path / "full.mp4", 40, size=(64, 48))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    frames = list(read_frames(cut))
    assert 0 < len(frames) < 40


def test_fingerprint_is_the_content_sha256(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(b"abc" * 1000)
    assert sha256_of(p, chunk=7) == hashlib.sha256(b"abc" * 1000).hexdigest()
