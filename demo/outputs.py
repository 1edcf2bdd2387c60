"""Every file a finished clip can get, one writer each, in the order they run:

====================  ==========================================  ===================
writer                files                                       runs when
====================  ==========================================  ===================
:class:`ResultFiles`  ``pose3d.npz``, ``pose3d.json``             always
:class:`CsvTable`     ``<clip>_joints.csv``                       ``--export csv``
:class:`BvhFiles`     ``<clip>_person<id>.bvh`` + ``.json``       ``--export bvh|fbx``
:class:`FbxFiles`     ``<clip>_person<id>.fbx``                   ``--export fbx``
:class:`Rendered`     ``<clip>_pose.mp4``, ``<clip>_pose.gif``    unless ``--no-video``; ``--gif``
:class:`ViewerPage`   ``<clip>_viewer.html``                      unless ``--no-html``
====================  ==========================================  ===================

Each writer decides from the options whether it runs (:meth:`Writer.wanted`), writes its
files from the clip's results (:meth:`Writer.write`), and names the files it owns
(:meth:`Writer.owned`, glob patterns): after a run, the owned files it did not write this
time are removed (an old ``_person3.bvh``, a GIF the settings no longer ask for), so a
folder holds exactly what its ``done.json`` lists. A writer can be asked for some of its
files only (``only``): a folder missing its GIF gets the GIF back without re-encoding
the mp4. The 2D stage's files (``pose2d.npz``, ``pose2d.json``, ``input_2D/``) are the
2D cache, written by :class:`demo.pose2d.Pose2DStage`.
"""
from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .export.formats import EXPORT_FORMATS
from .io.timing import StageTimes
from .options import PipelineOptions
from .pose2d.result import Pose2DResult
from .pose3d.result import RESULT_JSON, RESULT_NPZ, Pose3DResult
from .render import SkeletonRenderer
from .render.side_by_side import write_side_by_side
from .viewer import viewer_name, write_viewer

log = logging.getLogger(__name__)


@dataclass
class ClipFiles:
    """What the writers work from: one clip's results and where they go.

    Attributes:
        video: the input video (decoded again for rendering).
        out_dir: the clip's output folder.
        pose3d: the 3D result; pose2d: the 2D result (for raw 2D keypoints on the left
            panel), or None when not loaded.
        renderer: the renderer (its palette colours the viewer too).
        times: seconds per stage.
        progress: show progress bars.
    """

    video: Path
    out_dir: Path
    pose3d: Pose3DResult
    pose2d: Pose2DResult | None
    renderer: SkeletonRenderer
    times: StageTimes = field(default_factory=StageTimes)
    progress: bool = True

    @property
    def stem(self) -> str:
        return self.video.stem


class Writer:
    """One kind of output (see the module docstring)."""

    #: :class:`StageTimes` stage its time is charged to.
    stage = "io"

    def wanted(self, options: PipelineOptions) -> bool:
        raise NotImplementedError

    def owned(self, stem: str) -> list[str]:
        """Glob patterns (in the output folder) of every file this writer may write."""
        raise NotImplementedError

    def write(self, clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
        """Write the files (``only``: just these names, where the writer can); returns them."""
        raise NotImplementedError


class ResultFiles(Writer):
    def wanted(self, options: PipelineOptions) -> bool:
        return True

    def owned(self, stem: str) -> list[str]:
        return [RESULT_NPZ, RESULT_JSON]

    def write(self, clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
        return clip.pose3d.save(clip.out_dir)


class CsvTable(Writer):
    stage = "export"

    def wanted(self, options: PipelineOptions) -> bool:
        return "csv" in options.exports

    def owned(self, stem: str) -> list[str]:
        return [f"{glob.escape(stem)}_joints.csv"]

    def write(self, clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
        from .export.csv_table import write_joints_csv

        return [write_joints_csv(clip.out_dir / f"{clip.stem}_joints.csv", clip.pose3d)]


class BvhFiles(Writer):
    stage = "export"

    def wanted(self, options: PipelineOptions) -> bool:
        return bool({"bvh", "fbx"} & set(options.exports))

    def owned(self, stem: str) -> list[str]:
        return [f"{glob.escape(stem)}_person*.bvh", f"{glob.escape(stem)}_person*.json"]

    def write(self, clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
        from .export.bvh import write_bvh_files

        people = [(t.track_id, t.world, t.present, t.state, t.start) for t in clip.pose3d.tracks
                  if only is None or f"{clip.stem}_person{t.track_id}.bvh" in only
                  or f"{clip.stem}_person{t.track_id}.json" in only]  # fmt: skip
        return write_bvh_files(clip.out_dir, clip.stem, people, clip.pose3d.fps)


class FbxFiles(Writer):
    stage = "export"

    def wanted(self, options: PipelineOptions) -> bool:
        return "fbx" in options.exports

    def owned(self, stem: str) -> list[str]:
        return [f"{glob.escape(stem)}_person*.fbx"]

    def write(self, clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
        from .export.fbx import bvh_to_fbx

        bvh = [clip.out_dir / f"{clip.stem}_person{t.track_id}.bvh" for t in clip.pose3d.tracks]
        bvh = [p for p in bvh if p.is_file() and (only is None or p.with_suffix(".fbx").name in only)]
        return bvh_to_fbx(bvh)


class Rendered(Writer):
    stage = "render"

    def wanted(self, options: PipelineOptions) -> bool:
        return options.outputs.any

    def owned(self, stem: str) -> list[str]:
        return [f"{glob.escape(stem)}_pose.mp4", f"{glob.escape(stem)}_pose.gif"]

    def write(self, clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
        mp4 = options.outputs.video and (only is None or f"{clip.stem}_pose.mp4" in only)
        gif = options.outputs.gif if only is None or f"{clip.stem}_pose.gif" in only else None
        return write_side_by_side(clip.video, clip.out_dir, clip.pose3d, clip.renderer, mp4=mp4, gif=gif,
                                  times=clip.times, pose2d=clip.pose2d, progress=clip.progress)  # fmt: skip


class ViewerPage(Writer):
    def wanted(self, options: PipelineOptions) -> bool:
        return options.outputs.html

    def owned(self, stem: str) -> list[str]:
        return [glob.escape(viewer_name(stem))]

    def write(self, clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
        video_file = f"{clip.stem}_pose.mp4" if options.outputs.video else None
        return [write_viewer(clip.out_dir, clip.stem, clip.pose3d, video_file=video_file, palette=clip.renderer.palette)]


#: Every writer, in the order they run (FBX after the BVH files it converts).
WRITERS: tuple[Writer, ...] = (ResultFiles(), CsvTable(), BvhFiles(), FbxFiles(), Rendered(), ViewerPage())
assert set(EXPORT_FORMATS) == {"csv", "bvh", "fbx"}  # one writer per export format above


def owned_files(out_dir: Path, stem: str, writer: Writer) -> set[Path]:
    """The files in ``out_dir`` that ``writer`` owns (by its patterns)."""
    return {p for pattern in writer.owned(stem) for p in Path(out_dir).glob(pattern) if p.is_file()}


def write_outputs(clip: ClipFiles, options: PipelineOptions, only: set[str] | None = None) -> list[Path]:
    """Run every wanted writer (``only``: just the writers owning these file names, for
    just those files); then remove the files a writer owns but did not write this time
    (all of them for the writers not wanted). Returns the files written."""
    written: list[Path] = []
    for writer in WRITERS:
        mine = owned_files(clip.out_dir, clip.stem, writer)
        if not writer.wanted(options):
            _remove(mine, "the current settings do not produce it")
            continue
        if only is not None:
            names = {n for n in only if any(Path(n).match(p) for p in writer.owned(clip.stem))}
            if not names:
                continue
            with clip.times.stage(writer.stage):
                written += writer.write(clip, options, names)
            continue
        with clip.times.stage(writer.stage):
            paths = writer.write(clip, options)
        written += paths
        _remove(mine - set(paths), "an earlier run wrote it; this one did not")
    return written


def _remove(paths: set[Path], why: str) -> None:
    for p in sorted(paths):
        log.info("removing %s (%s)", p, why)
        p.unlink(missing_ok=True)
