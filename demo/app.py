"""The application: a video (or a folder of videos) in; per clip a side-by-side 2D/3D video,
an optional GIF, and the 2D and 3D keypoints as NumPy and JSON out.

Per clip, ``outputs/<clip>/`` receives, each written under a temporary name and renamed
when complete:

- ``pose2d.npz`` + ``pose2d.json`` (the 2D stage, reused on a later run) and the seeds'
  ``input_2D/keypoints.npz``;
- ``pose3d.npz`` + ``pose3d.json`` (camera and world 3D per track);
- ``<clip>_pose.mp4`` (H.264, same frame rate and frame count as the input) and, with
  ``--gif``, ``<clip>_pose.gif``;
- ``done.json`` last: what was made, with which settings. A clip whose ``done.json`` matches
  the current settings is skipped; without it, nothing in the folder counts as finished.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from lifter.checkpoints import load_lifter
from lifter.device import pick_device
from lifter.errors import UserError
from lifter.files import atomic_output, temp_path_beside
from lifter.inference import LiftOptions
from lifter.registry import LifterModel

from .gif import GifOptions, GifWriter
from .pose2d import Pose2DConfig, Pose2DEstimator, Pose2DResult
from .pose3d import Pose3DResult, lift_tracks
from .render import PersonPose, SkeletonRenderer
from .video import VIDEO_SUFFIXES, H264Writer, VideoError, VideoInfo, read_frames
from .weights import all_entries, ensure_downloaded

log = logging.getLogger(__name__)

DONE_MARKER = "done.json"
DEFAULT_LIFTER = "stcformer-27"


@dataclass(frozen=True)
class AppConfig:
    """Everything one run of ``vis.py`` needs.

    Attributes:
        out_root: folder that receives one sub-folder per clip.
        pose2d: detector, tracker and 2D model settings.
        lifter: registry name or checkpoint path of the lifter.
        frames: the lifter's window, for checkpoints the registry does not know.
        lift: lifting protocol and batching.
        device: ``auto``, ``cpu`` or ``cuda``.
        video: write the side-by-side mp4.
        gif: GIF options, or None for no GIF.
        overwrite: redo clips that are already done (and recompute their 2D).
        download: fetch missing registry weights automatically.
        progress: show progress bars.
    """

    out_root: Path = Path("outputs")
    pose2d: Pose2DConfig = field(default_factory=Pose2DConfig)
    lifter: str = DEFAULT_LIFTER
    frames: int | None = None
    lift: LiftOptions = field(default_factory=LiftOptions)
    device: str = "auto"
    video: bool = True
    gif: GifOptions | None = None
    overwrite: bool = False
    download: bool = True
    progress: bool = True

    def settings_key(self) -> dict[str, Any]:
        """What decides the content of a clip's outputs (compared with ``done.json``)."""
        return json.loads(json.dumps({
            "pose2d": asdict(self.pose2d),
            "lifter": self.lifter,
            "frames": self.frames,
            "lift": {k: v for k, v in asdict(self.lift).items() if k not in ("batch_size", "progress")},
            "video": self.video,
            "gif": asdict(self.gif) if self.gif else None,
        }, default=str))  # fmt: skip


@dataclass
class ClipReport:
    """How one clip went.

    Attributes:
        video: the input.
        out_dir: its output folder.
        status: ``done``, ``skipped`` or ``failed``.
        message: the error (failed) or why it was skipped.
        frames, people: decoded frames and kept tracks.
        seconds: wall time spent on the clip.
        outputs: files written.
    """

    video: Path
    out_dir: Path
    status: str
    message: str = ""
    frames: int = 0
    people: int = 0
    seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)


class Pipeline:
    """Models loaded once (on first use) and reused for every clip of a run."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.device = pick_device(config.device)
        if config.download:
            self._fetch_missing()
        self.pose2d = Pose2DEstimator(config.pose2d, self.device)
        self.renderer = SkeletonRenderer()
        self._lifter: LifterModel | None = None

    def _fetch_missing(self) -> None:
        """Download the registry weights this run names and does not have yet."""
        entries = all_entries()
        wanted = [self.config.lifter, self.config.pose2d.pose_model, self.config.pose2d.detector.model]
        missing = [n for n in wanted if n in entries and not Path(n).is_file() and not entries[n].path.is_file()]
        if missing:
            log.info("downloading %s into %s", ", ".join(missing), entries[missing[0]].path.parent)
            ensure_downloaded(missing, progress=self.config.progress)

    @property
    def lifter(self) -> LifterModel:
        if self._lifter is None:
            self._lifter = load_lifter(self.config.lifter, frames=self.config.frames, device=self.device)
        return self._lifter

    def process(self, video: Path, out_dir: Path) -> ClipReport:
        """Run one clip; raises :class:`UserError` (or anything unexpected) on failure."""
        start = time.perf_counter()
        done = out_dir / DONE_MARKER
        key = self.config.settings_key()
        if not self.config.overwrite and _done_with(done, key):
            return ClipReport(video, out_dir, "skipped", "already done with these settings (--overwrite redoes it)")
        info = VideoInfo.probe(video)  # an unreadable video fails before any folder is made
        lifter = self.lifter  # a wrong checkpoint fails now, not after the 2D stage
        _check_writable(out_dir)
        done.unlink(missing_ok=True)  # from here on the folder is not finished
        progress = self.config.progress
        pose2d = self.pose2d.run(video, out_dir, reuse=not self.config.overwrite, progress=progress, info=info)
        pose3d = lift_tracks(pose2d, lifter, self.config.lift, lifter_name=self.config.lifter, progress=progress)
        outputs = [out_dir / "pose2d.npz", out_dir / "pose2d.json", *pose3d.save(out_dir)]
        outputs += self._render(video, out_dir, pose2d, pose3d)
        seconds = time.perf_counter() - start
        with atomic_output(done) as tmp:
            tmp.write_text(json.dumps({
                "video": str(video),
                "settings": key,
                "outputs": [p.name if p.parent == out_dir else str(p.relative_to(out_dir)) for p in outputs],
                "frames": pose2d.num_frames,
                "people": len(pose2d.tracks),
                "seconds": round(seconds, 2),
            }, indent=1))  # fmt: skip
        return ClipReport(video, out_dir, "done", "", pose2d.num_frames, len(pose2d.tracks), seconds, outputs)

    def _render(self, video: Path, out_dir: Path, pose2d: Pose2DResult, pose3d: Pose3DResult) -> list[Path]:
        """Stream decoded frames through the renderer into the mp4 and/or GIF."""
        c = self.config
        if not c.video and c.gif is None:
            return []
        meta = pose2d.video
        size = self.renderer.output_size(meta.height, meta.width)[::-1]
        stem = video.stem
        mp4 = H264Writer(out_dir / f"{stem}_pose.mp4", meta.fps, size) if c.video else None
        gif_frames = set(c.gif.frame_indices(meta.num_frames, meta.fps)) if c.gif else set()
        # Without the mp4, decoding can stop after the GIF's last frame.
        last = meta.num_frames if mp4 is not None else max(gif_frames) + 1
        gif = GifWriter(out_dir / f"{stem}_pose.gif", c.gif.output_fps(meta.fps), size, c.gif.width) if c.gif else None
        writers = [w for w in (mp4, gif) if w is not None]
        try:
            with tqdm(total=last, unit="frame", desc="rendering", disable=not c.progress, leave=False) as bar:
                for t, frame in enumerate(read_frames(video)):
                    if t >= last:
                        break
                    bar.update(1)
                    if mp4 is None and t not in gif_frames:
                        continue
                    people = [
                        PersonPose(track_id=tr2.track_id, keypoints_2d=tr2.h36m[t], keypoints_3d=tr3.world[t])
                        for tr2, tr3 in zip(pose2d.tracks, pose3d.tracks)
                        if tr2.present[t]
                    ]
                    image = self.renderer.render(frame, people)
                    if mp4 is not None:
                        mp4.write(image)
                    if gif is not None and t in gif_frames:
                        gif.write(image)
            if mp4 is not None and mp4.frames != meta.num_frames:
                raise VideoError(f"{video} decoded to {mp4.frames} frames while rendering, {meta.num_frames} before")
            return [w.close() for w in writers]
        except BaseException:
            for w in writers:
                w.abort()
            raise


def _done_with(marker: Path, key: dict[str, Any]) -> bool:
    try:
        return json.loads(marker.read_text()).get("settings") == key
    except (OSError, ValueError):
        return False


def _check_writable(out_dir: Path) -> None:
    """Fail early, with one line, if the output folder cannot be written."""
    probe = temp_path_beside(out_dir / ".write-test")
    probe.unlink()


def clip_output_dirs(videos: list[Path], root: Path, out_root: Path) -> list[Path]:
    """An output folder per video: its path below ``root`` without the suffix; where two
    videos would share one (``a.mp4``, ``a.mov``), the suffix is kept in the name."""
    rel = [v.relative_to(root) if v.is_relative_to(root) else Path(v.name) for v in videos]
    stems = Counter(r.with_suffix("") for r in rel)
    return [
        out_root / (r.with_suffix("") if stems[r.with_suffix("")] == 1 else r.with_name(r.name.replace(".", "_")))
        for r in rel
    ]


def find_videos(folder: Path, recursive: bool, exclude: Path | None = None) -> list[Path]:
    """Video files in ``folder`` (by suffix), sorted; hidden files and anything below
    ``exclude`` (the output folder, whose videos are our own results) skipped."""
    if not folder.is_dir():
        raise UserError(f"--folder {folder} is not a folder")
    skip = exclude.resolve() if exclude is not None else None

    def wanted(p: Path) -> bool:
        hidden = any(part.startswith(".") for part in p.relative_to(folder).parts)
        ours = skip is not None and p.resolve().is_relative_to(skip)
        return p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not hidden and not ours

    return sorted(p for p in folder.glob("**/*" if recursive else "*") if wanted(p))


def run_clips(pipeline: Pipeline, videos: list[Path], out_dirs: list[Path]) -> list[ClipReport]:
    """Process clips one after another; a failing clip is reported and the batch goes on."""
    reports = []
    many = len(videos) > 1
    bar = tqdm(total=len(videos), unit="clip", desc="clips", disable=not (pipeline.config.progress and many))
    with bar:
        for video, out_dir in zip(videos, out_dirs):
            bar.set_postfix_str(video.name)
            start = time.perf_counter()
            try:
                report = pipeline.process(video, out_dir)
            except UserError as e:
                report = ClipReport(video, out_dir, "failed", str(e), seconds=time.perf_counter() - start)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - one broken clip must not stop a batch
                log.debug("unexpected error on %s", video, exc_info=True)
                report = ClipReport(video, out_dir, "failed", f"internal error: {type(e).__name__}: {e}",
                                    seconds=time.perf_counter() - start)  # fmt: skip
            if report.status == "failed" and many:
                log.error("%s failed: %s", video.name, report.message)
            reports.append(report)
            bar.update(1)
    return reports


def summary_table(reports: list[ClipReport]) -> str:
    """A plain-text table of the clips' outcomes."""
    rows = [("clip", "status", "frames", "people", "time", "output / reason")]
    for r in reports:
        detail = str(r.out_dir) if r.status != "failed" else r.message
        rows.append((r.video.name, r.status, str(r.frames or ""), str(r.people if r.status == "done" else ""),
                     f"{r.seconds:.1f}s" if r.seconds else "", detail))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths)) + "  " + row[5] for row in rows]
    counts = Counter(r.status for r in reports)
    lines.append(", ".join(f"{counts[s]} {s}" for s in ("done", "skipped", "failed") if counts[s]))
    return "\n".join(lines)

