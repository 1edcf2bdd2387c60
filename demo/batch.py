"""Running many clips: finding the videos of a folder, giving each its output folder,
processing them one after another with one :class:`demo.pipeline.Pipeline` (models loaded
once), and the summary table. A failing clip is a failed row and the batch goes on; a user
error (bad video, missing file) is one line, anything else is logged with its traceback.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from core.errors import UserError

from . import cache
from .io.video import VIDEO_SUFFIXES
from .pipeline import Pipeline

log = logging.getLogger(__name__)


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
        timings: seconds per stage.
        error: the unexpected exception of a failed clip (None for a user error).
    """

    video: Path
    out_dir: Path
    status: str
    message: str = ""
    frames: int = 0
    people: int = 0
    seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None


def clip_output_dirs(videos: list[Path], root: Path, out_root: Path) -> list[Path]:
    """An output folder per video: its path below ``root`` without the suffix; where two
    videos would share one (``a.mp4``, ``a.mov``), the suffix is kept in the name."""
    rel = [v.relative_to(root) if v.is_relative_to(root) else Path(v.name) for v in videos]
    stems = Counter(r.with_suffix("") for r in rel)
    return [
        out_root / (r.with_suffix("") if stems[r.with_suffix("")] == 1 else r.with_name(r.name.replace(".", "_")))
        for r in rel
    ]


def video_output_dir(video: Path, out_root: Path) -> Path:
    """The output folder of a single ``--video`` run: ``out_root/<stem>``, unless that
    folder holds another video's results (its ``done.json`` or ``pose2d.json`` names
    another source file): then ``<stem>_2``, ``<stem>_3``, ..., the first that is free or
    already this video's. The log says which, so a second ``clip.mp4`` from another folder
    never silently replaces the first one's results."""
    source = cache.source_of(video)
    first = out_root / video.stem
    for n in range(1, 10_000):
        out = first if n == 1 else out_root / f"{video.stem}_{n}"
        owner = folder_source(out)
        if owner is None or owner == source:
            if n > 1:
                log.warning("%s holds the results of %s: %s goes to %s", first, folder_source(first), video, out)
            return out
    raise UserError(f"no free output folder for {video} in {out_root}")


def folder_source(out_dir: Path) -> str | None:
    """The source video (resolved path) a folder's records name; None for a folder with
    no record."""
    for name in (cache.DONE_MARKER, "pose2d.json"):
        source = cache.read_record(out_dir / name).get("source")
        if source:
            return str(source)
    return None


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


def process_clip(pipeline: Pipeline, video: Path, out_dir: Path, present: set[str] | None = None) -> ClipReport:
    """One clip as a report row: user errors are one line, anything else keeps its
    traceback (logged here, and kept in ``error`` for a caller that re-raises it)."""
    start = time.perf_counter()
    try:
        r = pipeline.process(video, out_dir, present=present)
    except UserError as e:
        return ClipReport(video, out_dir, "failed", str(e), seconds=time.perf_counter() - start)
    except Exception as e:
        log.error("%s: unexpected error", video, exc_info=True)
        return ClipReport(video, out_dir, "failed", f"internal error: {type(e).__name__}: {e}",
                          seconds=time.perf_counter() - start, error=e)  # fmt: skip
    message = r.reason if r.status == "skipped" else ""
    return ClipReport(video, out_dir, r.status, message, r.frames, r.people, r.seconds, r.outputs, r.timings)


def run_clips(pipeline: Pipeline, videos: list[Path], out_dirs: list[Path]) -> list[ClipReport]:
    """Process clips one after another; a failing clip is reported and the batch goes on."""
    reports = []
    many = len(videos) > 1
    bar = tqdm(total=len(videos), unit="clip", desc="clips", disable=not (pipeline.options.progress and many))
    with bar:
        for video, out_dir in zip(videos, out_dirs):
            bar.set_postfix_str(video.name)
            report = process_clip(pipeline, video, out_dir)
            if report.status == "failed" and many and report.error is None:
                log.error("%s failed: %s", video.name, report.message)
            reports.append(report)
            bar.update(1)
    return reports


def write_gallery(out_root: Path, reports: list[ClipReport]) -> Path:
    """``<out_root>/index.html``: every clip of a folder run, linking to its viewer
    (:mod:`demo.viewer.gallery`); frames, people and frame rate come from each ``done.json``."""
    from .viewer import GalleryEntry, write_index

    entries = []
    for r in reports:
        done = cache.read_done(r.out_dir) if r.status != "failed" else {}
        frames, fps = done.get("frames"), done.get("fps")
        entries.append(GalleryEntry.for_clip(out_root, r.out_dir, r.video.stem, status=r.status, message=r.message,
                                             people=done.get("people", r.people or None),
                                             duration_s=frames / fps if frames and fps else None))  # fmt: skip
    return write_index(out_root, entries)


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

