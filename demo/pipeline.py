"""The pipeline as a Python API: models loaded once, then any number of clips.

    from demo import Pipeline, PipelineOptions
    pipeline = Pipeline(PipelineOptions(lifter="stcformer-27"))
    result = pipeline.process("clip.mp4")                 # arrays only, nothing written
    result = pipeline.process("clip.mp4", "outputs/clip")  # + every file, done.json last
    result.pose3d.tracks[0].camera                         # (T, 17, 3) metres

Per clip: the 2D stage (:class:`demo.pose2d.Pose2DStage`), smoothing, lifting and
placing every track (:func:`demo.pose3d.lift_tracks`) and, with an output folder, the
result files, the motion exports (:mod:`demo.export.writers`), the side-by-side video and
GIF (:mod:`demo.side_by_side`), the viewer page (:mod:`demo.viewer`) and ``done.json``
written last. A clip
whose ``done.json`` holds the same key (video content, weights, settings; :mod:`demo.cache`)
is skipped; a changed one is redone and the log says why.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core.files import atomic_output, temp_path_beside
from core.runtime import Runtime, configure_runtime
from lifter.checkpoints import load_lifter
from lifter.inference import LiftOptions
from lifter.registry import LifterModel, lifter_entries, resolve_weights

from .cache import ClipKey, read_saved_key, stale_reason, weights_identity
from .export.writers import write_exports
from .pose2d import Pose2DConfig, Pose2DResult, Pose2DStage
from .pose3d import MotionOptions, Pose3DResult, lift_tracks
from .render import RenderConfig, SkeletonRenderer
from .side_by_side import VideoOutputs, write_side_by_side
from .timing import StageTimes
from .video import VideoInfo
from .viewer import write_viewer
from .weights import all_entries, ensure_downloaded

log = logging.getLogger(__name__)

DONE_MARKER = "done.json"
DEFAULT_LIFTER = "stcformer-27"


@dataclass(frozen=True)
class PipelineOptions:
    """Everything a pipeline needs.

    Attributes:
        pose2d: detector, tracker and 2D model settings.
        lifter: registry name or checkpoint path of the lifter.
        frames: the lifter's window, for checkpoints the registry does not know.
        lift: lifting protocol and batching (its precision is set from ``precision``).
        motion: smoothing, and the camera behind the trajectories.
        exports: motion files beside ``pose3d.npz``/``.json``: any of ``bvh``, ``csv``, ``fbx``.
        outputs: which rendered files to write.
        render: how they are drawn (``min_score``: joints scored lower are faded).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch threads; ``None``: every core the process may use.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` for every model.
        overwrite: redo clips that are already done (and recompute their 2D).
        download: fetch missing registry weights automatically.
        progress: show progress bars.
    """

    pose2d: Pose2DConfig = field(default_factory=Pose2DConfig)
    lifter: str = DEFAULT_LIFTER
    frames: int | None = None
    lift: LiftOptions = field(default_factory=LiftOptions)
    motion: MotionOptions = field(default_factory=MotionOptions)
    exports: tuple[str, ...] = ()
    outputs: VideoOutputs = field(default_factory=VideoOutputs)
    render: RenderConfig = field(default_factory=RenderConfig)
    device: str = "auto"
    threads: int | None = None
    precision: str = "auto"
    overwrite: bool = False
    download: bool = True
    progress: bool = True


@dataclass
class ClipResult:
    """One clip's outcome.

    Attributes:
        video: the input.
        out_dir: its output folder, or None when nothing was written.
        status: ``done`` or ``skipped`` (already done with the same key).
        reason: why it was skipped, or why it was redone.
        pose2d, pose3d: the results (None when skipped).
        outputs: files written.
        timings: seconds per stage (:mod:`demo.timing`) and ``wall``.
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
        return self.pose2d.num_frames if self.pose2d else 0

    @property
    def people(self) -> int:
        return len(self.pose2d.tracks) if self.pose2d else 0

    @property
    def seconds(self) -> float:
        return self.timings.get("wall", 0.0)


class Pipeline:
    """Models loaded once (on first use) and reused for every clip.

    Args:
        options: see :class:`PipelineOptions`.
        runtime: an already configured runtime (default: configured here from the options).
    """

    def __init__(self, options: PipelineOptions | None = None, runtime: Runtime | None = None) -> None:
        start = time.perf_counter()
        self.options = options = options or PipelineOptions()
        self.runtime = runtime or configure_runtime(options.device, options.threads, options.precision)
        if options.download:
            self._fetch_missing()
        self.pose2d = Pose2DStage(options.pose2d, self.runtime)
        self.renderer = SkeletonRenderer(options.render)
        self._lifter: LifterModel | None = None
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

    def lifter_path(self) -> Path:
        """The lifter's weights file (a registry name resolved in the checkpoint folder)."""
        return resolve_weights(self.options.lifter, lifter_entries(), "lifter")[0]

    @property
    def lift_options(self) -> LiftOptions:
        return replace(self.options.lift, precision=self.runtime.precision_for("lifter"))

    def key(self, video: Path) -> ClipKey:
        """Everything the clip's outputs depend on (see :mod:`demo.cache`)."""
        o = self.options
        lift = {k: v for k, v in asdict(self.lift_options).items() if k not in ("batch_size", "progress")}
        lift["frames"] = o.frames
        outputs = {"video": o.outputs.video, "gif": asdict(o.outputs.gif) if o.outputs.gif else None,
                   "html": o.outputs.html,
                   "render": asdict(o.render) if o.outputs.any else None}
        key = self.pose2d.key(video)
        return ClipKey(key.video, {**key.weights, "lifter": weights_identity(self.lifter_path())},
                       {**key.settings, "lift": lift, "motion": asdict(o.motion), "exports": sorted(o.exports),
                        "outputs": outputs})  # fmt: skip

    def process(self, video: str | Path, out_dir: str | Path | None = None) -> ClipResult:
        """Run one clip; with ``out_dir``, write its files (``done.json`` last) or skip it
        when it is already done with the same key.

        Raises:
            UserError: a bad video, checkpoint or option (one line); anything else is a bug.
        """
        start = time.perf_counter()
        video, out = Path(video), (Path(out_dir) if out_dir is not None else None)
        times = StageTimes()
        times.add("setup", self.setup_seconds)
        self.setup_seconds = 0.0
        info = VideoInfo.probe(video)  # an unreadable video fails before any folder is made
        key = self.key(video)
        reason = ""
        if out is not None:
            reason = stale_reason(read_saved_key(out / DONE_MARKER), key) or ""
            if not reason and not self.options.overwrite:
                return ClipResult(video, out, "skipped", "already done with this video, weights and settings (--overwrite redoes it)")
            if (out / DONE_MARKER).exists():
                log.warning("%s: redoing %s (%s)", video.name, out, reason or "--overwrite")
        with times.stage("setup"):
            lifter = self.lifter  # a wrong checkpoint fails now, not after the 2D stage
        if out is not None:
            _check_writable(out)
            (out / DONE_MARKER).unlink(missing_ok=True)  # from here on the folder is not finished
        progress = self.options.progress
        pose2d = self.pose2d.run(video, out, reuse=not self.options.overwrite, progress=progress, info=info, times=times)
        with times.stage("lift"):
            pose3d = lift_tracks(pose2d, lifter, self.lift_options, self.options.motion,
                                 lifter_name=self.options.lifter, progress=progress)  # fmt: skip
        outputs: list[Path] = []
        if out is not None:
            with times.stage("io"):
                outputs = [out / "pose2d.npz", out / "pose2d.json", *pose3d.save(out)]
            with times.stage("export"):
                outputs += write_exports(out, video.stem, pose3d, self.options.exports)
            outputs += write_side_by_side(video, out, pose2d, pose3d, self.renderer, self.options.outputs, times, progress=progress)
            if self.options.outputs.html:
                with times.stage("io"):
                    clip_video = f"{video.stem}_pose.mp4" if self.options.outputs.video else None
                    outputs.append(write_viewer(out, video.stem, pose3d, video_file=clip_video,
                                                palette=self.renderer.palette))  # fmt: skip
        wall = time.perf_counter() - start
        result = ClipResult(video, out, "done", reason, pose2d, pose3d, outputs, times.to_json(wall))
        if out is not None:
            _write_done(out, result, key)
        return result


def _write_done(out: Path, result: ClipResult, key: ClipKey) -> None:
    with atomic_output(out / DONE_MARKER) as tmp:
        tmp.write_text(json.dumps({
            "video": str(result.video),
            "key": key.to_json(),
            "outputs": [p.name if p.parent == out else str(p.relative_to(out)) for p in result.outputs],
            "frames": result.frames,
            "fps": float(result.pose2d.video.fps) if result.pose2d else None,
            "people": result.people,
            "seconds": round(result.seconds, 2),
            "timings": result.timings,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }, indent=1))  # fmt: skip


def _check_writable(out_dir: Path) -> None:
    """Fail early, with one line, if the output folder cannot be written."""
    temp_path_beside(out_dir / ".write-test").unlink()


__all__ = ["DEFAULT_LIFTER", "DONE_MARKER", "ClipResult", "Pipeline", "PipelineOptions"]
