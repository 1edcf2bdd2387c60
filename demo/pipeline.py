"""One clip, as a Python API: models loaded once, then any number of clips.

    from demo import Pipeline, PipelineOptions
    pipeline = Pipeline(PipelineOptions(lifter="stcformer-27"))
    result = pipeline.process("clip.mp4")                 # arrays only, nothing written
    result = pipeline.process("clip.mp4", "outputs/clip")  # + every file, done.json last
    result.pose3d.tracks[0].world                          # (n, 17, 3) metres, over its span
    result.pose3d.dense(track_id, "world")                 # (T, 17, 3), NaN where absent

Per clip: the 2D stage (:class:`demo.pose2d.Pose2DStage`), then smoothing, lifting and
placing every track (:func:`demo.pose3d.lift_people`) and, with an output folder, the
writers of :mod:`demo.outputs` (result files, exports, the side-by-side video and GIF,
the viewer page), each deciding from the options whether it runs, and ``done.json``
written last (:mod:`demo.cache`). A folder whose ``done.json`` holds the same key (video
content, weights, settings, versions) and still has every file it lists is skipped; one
missing some of them gets them back from the saved arrays without running a model; a
changed key is redone and the log says why.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.files import temp_path_beside
from core.runtime import Runtime, configure_runtime
from core.weights import resolve_weights
from lifter.checkpoints import load_lifter
from lifter.engines import LifterCalls
from lifter.inference import LiftOptions
from lifter.registry import LifterModel, lifter_entries

from . import cache
from .cache import ClipKey, weights_identity
from .io.timing import StageTimes
from .io.video import VideoInfo
from .options import DEFAULT_LIFTER, PipelineOptions
from .outputs import WRITERS, ClipFiles, write_outputs
from .pose2d import Pose2DResult, Pose2DStage
from .pose3d import Pose3DResult, lift_people
from .render import SkeletonRenderer
from .weights import all_entries, ensure_downloaded

log = logging.getLogger(__name__)

DONE_MARKER = cache.DONE_MARKER


@dataclass
class ClipResult:
    """One clip's outcome.

    Attributes:
        video: the input.
        out_dir: its output folder, or None when nothing was written.
        status: ``done`` or ``skipped`` (already done with the same key, every file there).
        reason: why it was skipped, why it was redone, or which files were rebuilt.
        pose2d, pose3d: the results (None when skipped).
        outputs: files written.
        timings: seconds per stage (:mod:`demo.io.timing`) and ``wall``.
    """

    video: Path
    out_dir: Path | None
    status: str
    reason: str = ""
    pose2d: Pose2DResult | None = None
    pose3d: Pose3DResult | None = None
    outputs: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.pose3d.num_frames if self.pose3d else (self.pose2d.num_frames if self.pose2d else 0)

    @property
    def people(self) -> int:
        return len(self.pose2d.tracks) if self.pose2d else 0

    @property
    def seconds(self) -> float:
        return self.timings.get("wall", 0.0)


class Pipeline:
    """Models loaded once (on first use) and reused for every clip.

    Args:
        options: see :class:`demo.options.PipelineOptions`.
        runtime: an already configured runtime (default: configured here from the options).
    """

    def __init__(self, options: PipelineOptions | None = None, runtime: Runtime | None = None) -> None:
        start = time.perf_counter()
        self.options = options = options or PipelineOptions()
        self.runtime = runtime or configure_runtime(options.device, options.threads, options.precision, options.backend)
        if options.download:
            self._fetch_missing()
        self.pose2d = Pose2DStage(options.pose2d, self.runtime)
        self.renderer = SkeletonRenderer(options.render)
        self._lifter: LifterModel | None = None
        self._lifter_calls: LifterCalls | None = None
        self.setup_seconds = time.perf_counter() - start  # charged to the first clip

    def _fetch_missing(self) -> None:
        """Download the registry weights this run names and does not have yet."""
        entries = all_entries()
        o = self.options
        wanted = [o.lifter, o.pose2d.pose_model, o.pose2d.detector.model]
        missing = [n for n in wanted if n in entries and not Path(n).is_file() and not entries[n].path.is_file()]
        if missing:
            log.info("downloading %s into %s", ", ".join(missing), entries[missing[0]].path.parent)
            ensure_downloaded(missing, progress=o.progress)

    @property
    def lifter(self) -> LifterModel:
        if self._lifter is None:
            self._lifter = load_lifter(self.options.lifter, frames=self.options.frames, device=self.runtime.device)
        return self._lifter

    @property
    def lifter_calls(self) -> LifterCalls:
        """The lifter on the run's backend (each entry point converted on first use)."""
        if self._lifter_calls is None:
            self._lifter_calls = LifterCalls(self.lifter, self.runtime.backend_for("lifter"), threads=self.runtime.threads,
                                             weights=weights_identity(self.lifter_path()))  # fmt: skip
        return self._lifter_calls

    def lifter_path(self) -> Path:
        """The lifter's weights file (a registry name resolved in the checkpoint folder)."""
        return resolve_weights(self.options.lifter, lifter_entries(), "lifter")[0]

    @property
    def lift_options(self) -> LiftOptions:
        return replace(self.options.lift, precision=self.runtime.precision_for("lifter"))

    def key(self, video: Path) -> ClipKey:
        """Everything the clip's outputs depend on (built by :func:`demo.cache.clip_key`)."""
        return cache.clip_key(self.pose2d.key(video), self.options, self.lifter_path(), self.lift_options,
                              self.runtime.backend_for("lifter"))  # fmt: skip

    def process(self, video: str | Path, out_dir: str | Path | None = None, *,
                present: set[str] | None = None) -> ClipResult:  # fmt: skip
        """Run one clip; with ``out_dir``, write its files (``done.json`` last), or skip
        it when it is already done with the same key, or rebuild the files it lost.

        Args:
            present: the output files known to be in the folder, where ``out_dir`` is a
                local copy of it (a Ray worker without shared storage); default: look.

        Raises:
            UserError: a bad video, checkpoint or option (one line); anything else is a bug.
        """
        start = time.perf_counter()
        video, out = Path(video), (Path(out_dir) if out_dir is not None else None)
        times = StageTimes()
        times.add("setup", self.setup_seconds)
        self.setup_seconds = 0.0
        info = VideoInfo.probe(video)  # an unreadable video fails before any folder is made
        self._check_gif_range(info)
        key = self.key(video)
        reason = ""
        if out is not None:
            record = cache.read_done(out)
            reason = (cache.stale_reason(record.get("key"), key) or "") if record else "not done yet"
            if not reason and not self.options.overwrite:
                missing = cache.missing_outputs(out, record, present)
                if not missing:
                    return ClipResult(video, out, "skipped",
                                      "already done with this video, weights and settings (--overwrite redoes it)")  # fmt: skip
                rebuilt = self._rebuild(video, out, key, record, missing, times, start)
                if rebuilt is not None:
                    return rebuilt
                reason = "its saved results could not be read"
            if record:
                log.warning("%s: redoing %s (%s)", video.name, out, reason if reason else "--overwrite")
        with times.stage("setup"):
            lifter = self.lifter  # a wrong checkpoint fails now, not after the 2D stage
            self.lifter_calls.prepare(self.lift_options.mode)  # converted once, before any clip work
        if out is not None:
            _check_writable(out)
            cache.clear_done(out)  # from here on the folder is not finished
        progress = self.options.progress
        pose2d = self.pose2d.run(video, out, reuse=not self.options.overwrite, progress=progress, info=info, times=times)
        with times.stage("lift"):
            pose3d = lift_people(pose2d, lifter, self.lift_options, self.options.motion,
                                 lifter_name=self.options.lifter, progress=progress, calls=self.lifter_calls)  # fmt: skip
        outputs: list[Path] = []
        if out is not None:
            clip = ClipFiles(video, out, pose3d, pose2d, self.renderer, times, progress)
            outputs = [out / "pose2d.npz", out / "pose2d.json", *write_outputs(clip, self.options)]
        result = ClipResult(video, out, "done", reason, pose2d, pose3d, outputs, times.to_json(time.perf_counter() - start))
        if out is not None:
            self._finish(out, video, key, result)
        return result

    def _check_gif_range(self, info: VideoInfo) -> None:
        """A GIF range past the clip's end fails now, before any model runs."""
        gif = self.options.outputs.gif
        if gif is not None and info.num_frames:
            gif.frame_indices(info.num_frames, info.fps)

    def _rebuild(self, video: Path, out: Path, key: ClipKey, record: dict, missing: list[Path], times: StageTimes,
                 start: float) -> ClipResult | None:  # fmt: skip
        """Write a finished folder's lost files again from its saved arrays (no model
        runs); None when the arrays cannot be read (the clip is then redone)."""
        names = {str(p.relative_to(out)) for p in missing}
        try:
            pose2d = Pose2DResult.load(out)
            pose3d = Pose3DResult.load(out)
        except (OSError, ValueError, KeyError) as e:
            log.warning("%s: cannot rebuild %s from its saved results (%s)", video.name, out, e)
            return None
        made = {n for w in WRITERS if w.wanted(self.options) for n in names if any(Path(n).match(p) for p in w.owned(video.stem))}
        if names - made:
            return None  # a lost file no writer makes (the 2D cache's): redo the clip
        log.warning("%s: rebuilding %s in %s from the saved results", video.name, ", ".join(sorted(names)), out)
        cache.clear_done(out)
        clip = ClipFiles(video, out, pose3d, pose2d, self.renderer, times, self.options.progress)
        write_outputs(clip, self.options, only=names)
        outputs = cache.recorded_outputs(out, record)
        result = ClipResult(video, out, "done", f"rebuilt {', '.join(sorted(names))}", pose2d, pose3d, outputs,
                            times.to_json(time.perf_counter() - start))  # fmt: skip
        self._finish(out, video, key, result)
        return result

    def _finish(self, out: Path, video: Path, key: ClipKey, result: ClipResult) -> None:
        models = result.pose2d.models if result.pose2d else {}
        backends = {role: models.get(role, {}).get("backend") for role in ("detector", "pose2d")}
        backends["lifter"] = self.lifter_calls.effective_backend if self._lifter_calls else None
        cache.write_done(out, cache.done_record(
            out, video, key, result.outputs, frames=result.frames, fps=result.pose3d.fps if result.pose3d else None,
            people=result.people, seconds=result.seconds, timings=result.timings,
            backends={k: v for k, v in backends.items() if v}))  # fmt: skip


def _check_writable(out_dir: Path) -> None:
    """Fail early, with one line, if the output folder cannot be written."""
    temp_path_beside(out_dir / ".write-test").unlink()


__all__ = ["DEFAULT_LIFTER", "DONE_MARKER", "ClipResult", "Pipeline", "PipelineOptions"]
