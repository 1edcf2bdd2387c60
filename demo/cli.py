"""``python vis.py``: the command users run.

    python vis.py --video videos/sample.mp4 [--gif] [--lifter NAME] [...]
    python vis.py --folder videos/ [--recursive] [...]
    python vis.py download [NAMES ...]
    python vis.py list
"""
from __future__ import annotations

import argparse
import difflib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from tqdm.contrib.logging import logging_redirect_tqdm

from core.console import report_errors, setup_logging
from core.errors import UserError
from core.backends import BACKENDS
from core.runtime import PRECISIONS, configure_runtime, pick_device
from lifter.options import add_lift_arguments, lift_options_from_args

from .batch import clip_output_dirs, find_videos, run_clips, summary_table, video_output_dir, write_gallery
from .cluster import add_ray_arguments, ray_options_from_args
from .export.fbx import HELP as FBX_HELP
from .export.fbx import INSTALL_HINT, find_blender
from .export.formats import parse_exports
from .io.timing import StageTimes
from .motion.camera import DEFAULT_FOV_DEG, FOV_SIDES, check_camera_options
from .motion.smoothing import DEFAULT_PRESET, parse_smoothing
from .options import MotionOptions, PipelineOptions, VideoOutputs
from .pipeline import Pipeline
from .pose2d.detect import DetectorConfig
from .pose2d.registry import pose2d_entries
from .pose2d.stage import Pose2DConfig
from .pose2d.track import TrackerConfig
from .presets import PRESET_NAMES, PRESETS, resolve_preset
from .render import LAYOUTS, RenderConfig
from .render.gif import GifOptions
from .render.style import KEYPOINTS_2D
from .weights import all_entries, ensure_downloaded

log = logging.getLogger("vis")

def default_downloads() -> tuple[str, ...]:
    """What ``vis.py download`` fetches without names: the models of ``--preset auto`` here."""
    preset, _ = resolve_preset("auto", pick_device("auto").type == "cuda")
    return preset.lifter, preset.pose2d, preset.detector


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one worth reading (not None, not an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse that answers a mistyped option with the closest real one."""

    def error(self, message: str) -> NoReturn:
        if "unrecognized arguments:" in message:
            options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            for word in message.split(":", 1)[1].split():
                hit = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.6)
                if hit:
                    message += f" (did you mean {hit[0]}?)"
                    break
        super().error(message)


def build_parser() -> Parser:
    p = Parser(
        prog="vis.py",
        description="Turn a video (or a folder of videos) into 3D human motion: a side-by-side 2D/3D "
        "skeleton video, an optional GIF, the 2D/3D keypoints as .npz and .json with each person's path "
        "through the scene, and on request BVH, CSV or FBX motion files.",
        epilog="Other commands: 'python vis.py download [NAMES...]' fetches weights (default: what the "
        "default pipeline needs); 'python vis.py list' shows every known checkpoint and whether it is here.",
        formatter_class=_HelpFormatter,
    )
    g = p.add_argument_group("input (one of)")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="a video file")
    src.add_argument("--folder", type=Path, help="every video file in this folder")
    g.add_argument("--recursive", action="store_true", help="with --folder: include sub-folders")

    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=Path("outputs"), help="each clip gets OUT/<clip name>/")
    g.add_argument("--no-video", action="store_true", help="keypoints only: no side-by-side video")
    g.add_argument("--no-html", action="store_true",
                   help="no <clip>_viewer.html (the 3D viewer page) and, for folders, no OUT/index.html")  # fmt: skip
    g.add_argument("--gif", action="store_true", help="also write <clip>_pose.gif")
    g.add_argument("--gif-width", type=int, default=480, help="GIF width in pixels")
    g.add_argument("--gif-fps", type=float, default=10.0, help="GIF frame rate (at most the video's)")
    g.add_argument("--gif-frames", metavar="START:END", default=":", help="frame range of the GIF, END exclusive (default: all)")
    g.add_argument("--overwrite", action="store_true", help="redo clips already done, 2D included")

    g = p.add_argument_group("models")
    g.add_argument("--preset", default="auto", metavar="|".join(PRESET_NAMES),
                   help="a detector, 2D model, lifter and lifting mode together: "
                        + "; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
                        + "; auto: quality on a CUDA GPU, fast on a CPU. --detector, --pose2d, --lifter, "
                        "--lift-mode and --flip-test each replace their part")  # fmt: skip
    g.add_argument("--lifter", help="lifter name (see 'vis.py list'; default: the preset's)")
    g.add_argument("--checkpoint", type=Path, help="a lifter checkpoint file (instead of --lifter)")
    g.add_argument("--frames", type=int, help="window length of a --checkpoint the registry does not know")
    g.add_argument("--detector", help="YOLO weights name or .pt/.yaml path (default: the preset's)")
    g.add_argument("--person-classes", default="person", metavar="NAMES|IDS",
                   help="comma-separated detector classes that are people, by name or id "
                   "(e.g. Normal,Fall for a fall detector)")  # fmt: skip
    g.add_argument("--pose2d", help="2D model name (HRNet or RTMPose, see 'vis.py list') or a checkpoint of either "
                   "family (default: the preset's)")
    g.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                   help="RTMPose: also run each crop mirrored and average, as MMPose does (twice the 2D time; "
                        "default: the preset's, on for quality only)")  # fmt: skip
    g.add_argument("--pose2d-size", type=int, nargs=2, metavar=("W", "H"),
                   help="crop size of a --pose2d file whose width has no official size")  # fmt: skip
    g.add_argument("--pose2d-norm", choices=("seed", "imagenet"), default="seed",
                   help="HRNet input statistics: the seeds' (red/blue statistics swapped, their exact numbers) "
                   "or ImageNet's (what HRNet was trained with)")  # fmt: skip
    g.add_argument("--no-download", action="store_true", help="never download missing weights")

    g = p.add_argument_group("processing")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda")
    g.add_argument("--threads", type=int, help="CPU threads for the models (default: every core this process may use, "
                   "or OMP_NUM_THREADS when set)")  # fmt: skip
    g.add_argument("--backend", choices=BACKENDS, default=None,
                   help="where the models run: auto (OpenVINO on x86 CPUs, PyTorch on CUDA), torch, openvino, "
                        "onnxruntime (default: $POSE3D_BACKEND or auto)")  # fmt: skip
    g.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="every model's precision; auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32")  # fmt: skip
    g.add_argument("--max-people", type=int, help="keep the N longest tracks (1 joins a single person's pieces)")
    g.add_argument("--min-track-frames", type=int, default=10, help="drop tracks detected in fewer frames")
    g.add_argument("--max-gap", type=float, default=1.0, metavar="SECONDS",
                   help="longest miss inside a track that is filled by interpolation (longer ones split it)")  # fmt: skip
    g.add_argument("--det-conf", type=float, default=0.1, help="lowest detection confidence used by the tracker")
    g.add_argument("--det-size", type=int, default=640, help="detector input size in pixels (larger finds smaller people)")
    g.add_argument("--min-score", type=float, default=0.3, help="2D joints scored below this are drawn faded")
    g.add_argument("--draw-2d", choices=KEYPOINTS_2D, default="lifted",
                   help="left panel: the 2D keypoints the lifter saw (lifted, after --smooth) or the 2D model's "
                   "own output (raw)")  # fmt: skip
    add_lift_arguments(g, mode_default=None)

    g = p.add_argument_group("motion and exports")
    cam = g.add_mutually_exclusive_group()
    cam.add_argument("--focal", type=float, metavar="PX",
                     help="the camera's focal length in pixels (default: from --fov)")  # fmt: skip
    cam.add_argument("--fov", type=float, metavar="DEG",
                     help=f"the camera's field of view in degrees across the side --fov-side names (default "
                     f"{DEFAULT_FOV_DEG:g} across the long side, a phone's main camera held either way); it sets "
                     "how far away people are placed")  # fmt: skip
    g.add_argument("--fov-side", choices=FOV_SIDES, default="long",
                   help="which side of the displayed picture --fov spans (long: the same focal length for a "
                   "portrait or a landscape clip of one camera)")  # fmt: skip
    g.add_argument("--smooth", default=DEFAULT_PRESET, metavar="none|light|strong|SPEC",
                   help="smoothing of the 2D keypoints before lifting and of each root trajectory: a preset, "
                   "or savgol:window_s=S,polyorder=N or one_euro:min_cutoff=HZ,beta=B[,zero_phase=1]")  # fmt: skip
    g.add_argument("--smooth-3d", default="none", metavar="none|light|strong|SPEC",
                   help="smoothing of the lifted 3D joints (same forms as --smooth)")
    g.add_argument("--layout", choices=LAYOUTS, default="world",
                   help="3D panel: world (people where they stand, with trails) or slots (side by side, "
                   "the seeds' view)")  # fmt: skip
    g.add_argument("--export", default=None, metavar="FORMATS",
                   help="comma-separated motion files besides npz/json: bvh (one per person, metres, Y up), "
                   f"csv (one table: frame, time, person, joint, world x y z, 2D u v, score); {FBX_HELP}")  # fmt: skip
    g.add_argument("--profile", action="store_true", help="print seconds per stage at the end (also in done.json)")

    add_ray_arguments(p.add_argument_group("cluster (Ray, optional: pip install -r requirements-ray.txt)"))

    g = p.add_argument_group("logging")
    g.add_argument("-v", "--verbose", action="count", default=0, help="more detail")
    g.add_argument("-q", "--quiet", action="store_true", help="warnings, errors and the summary only; no progress bars")
    return p


def _gif_options(args: argparse.Namespace) -> GifOptions | None:
    if not args.gif:
        return None
    start, sep, end = args.gif_frames.partition(":")
    try:
        if not sep:
            raise ValueError
        return GifOptions(args.gif_width, args.gif_fps, int(start) if start else 0, int(end) if end else None)
    except ValueError:
        raise UserError(f"--gif-frames must look like START:END (e.g. 0:100, 50:), got '{args.gif_frames}'") from None


def apply_preset(args: argparse.Namespace) -> None:
    """Fill ``--detector``, ``--pose2d``, ``--lifter`` and ``--lift-mode`` from ``--preset``
    where they were not given, and say which models were chosen, why, and how to change them."""
    preset, why = resolve_preset(args.preset, pick_device(args.device).type == "cuda")
    chosen = []
    for flag, attr, value in (("--detector", "detector", preset.detector), ("--pose2d", "pose2d", preset.pose2d),
                              ("--lifter", "lifter", preset.lifter), ("--lift-mode", "lift_mode", preset.lift_mode)):
        given = getattr(args, attr) is not None or (attr == "lifter" and args.checkpoint is not None)
        if not given:
            setattr(args, attr, value)
        chosen.append(f"{flag.lstrip('-')} {getattr(args, attr) if attr != 'lifter' or not args.checkpoint else args.checkpoint}"
                      f"{' (given)' if given else ''}")  # fmt: skip
    if args.flip_test is None:
        # The preset's flip test applies to RTMPose only; an HRNet asked for runs without.
        args.flip_test = preset.flip_test and _is_rtmpose(args.pose2d)
    chosen.append(f"flip test {'on' if args.flip_test else 'off'}")
    others = "|".join(n for n in PRESET_NAMES if n not in ("auto", preset.name))
    log.info("models: preset %s (%s): %s; change with --preset %s or the flags themselves",
             preset.name, why, ", ".join(chosen), others)  # fmt: skip


def _is_rtmpose(pose2d: str) -> bool:
    """Whether ``--pose2d`` names an RTMPose (a registry name; a file is read only later)."""
    entry = pose2d_entries().get(pose2d)
    return entry.family == "rtmpose" if entry is not None else "rtmpose" in Path(pose2d).name.lower()


def options_from_args(args: argparse.Namespace) -> PipelineOptions:
    """Turn parsed options into :class:`PipelineOptions` (the preset filling in the models)."""
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise UserError(f"--checkpoint {args.checkpoint} does not exist")
    apply_preset(args)
    lifter = str(args.checkpoint) if args.checkpoint else args.lifter
    classes = tuple(c.strip() for c in args.person_classes.split(",") if c.strip())
    if not classes:
        raise UserError("--person-classes needs at least one class name or id")
    try:
        pose2d = Pose2DConfig(
            detector=DetectorConfig(model=args.detector, conf=args.det_conf, imgsz=args.det_size, person_classes=classes),
            tracker=TrackerConfig(min_frames=args.min_track_frames, max_people=args.max_people, max_gap_s=args.max_gap),
            pose_model=args.pose2d,
            pose_input_size=tuple(args.pose2d_size) if args.pose2d_size else None,
            pose_normalization=args.pose2d_norm,
            flip_test=args.flip_test,
        )
        render = RenderConfig(min_score=args.min_score, layout=args.layout, keypoints_2d=args.draw_2d)
    except ValueError as e:
        raise UserError(str(e)) from None
    check_camera_options(args.focal, args.fov)  # before hours of 2D work, not after
    motion = MotionOptions(focal=args.focal, fov=args.fov, fov_side=args.fov_side, smooth=parse_smoothing(args.smooth),
                           smooth_3d=parse_smoothing(args.smooth_3d))  # fmt: skip
    exports = parse_exports(args.export or "")
    if "fbx" in exports and find_blender() is None:
        raise UserError(INSTALL_HINT)  # now, not after the clips' 2D and 3D work
    options = PipelineOptions(
        pose2d=pose2d,
        lifter=lifter,
        frames=args.frames,
        lift=lift_options_from_args(args, precision="fp32"),  # the runtime sets the real precision
        motion=motion,
        exports=exports,
        outputs=VideoOutputs(video=not args.no_video, gif=_gif_options(args), html=not args.no_html),
        render=render,
        device=args.device,
        threads=args.threads,
        precision=args.precision,
        backend=args.backend,
        overwrite=args.overwrite,
        download=not args.no_download,
        progress=not args.quiet,
    )
    return options


def run(args: argparse.Namespace) -> int:
    if args.video is not None:
        if not args.video.exists():
            raise UserError(f"video {args.video} does not exist")
        videos, out_dirs = [args.video], [video_output_dir(args.video, args.out)]
    else:
        videos = find_videos(args.folder, args.recursive, exclude=args.out)
        if not videos:
            raise UserError(f"no video files in {args.folder}{'' if args.recursive else ' (try --recursive)'}")
        out_dirs = clip_output_dirs(videos, args.folder, args.out)
    options = options_from_args(args)
    if args.folder is not None:
        log.info("%d video(s) in %s", len(videos), args.folder)
    cluster = ray_options_from_args(args)
    if cluster is not None:
        from .cluster import run_on_ray  # Ray is imported only with --ray

        reports = run_on_ray(options, videos, out_dirs, cluster)
    else:
        runtime = configure_runtime(options.device, options.threads, options.precision, options.backend)
        log.info("device: %s, %d thread(s), precision %s, backend %s%s", runtime.device, runtime.threads,
                 runtime.precision, runtime.backend,
                 "" if options.backend else " (auto; --backend torch|openvino|onnxruntime to change)")  # fmt: skip
        reports = run_clips(Pipeline(options, runtime), videos, out_dirs)
    if args.profile:
        _print_profile(reports)
    if args.video is not None:
        (r,) = reports
        if r.status == "failed":
            if r.error is not None:  # its traceback has been logged
                print(f"error: {r.message}", file=sys.stderr)
                return 1
            raise UserError(r.message)
        if r.status == "skipped":
            print(f"{r.video}: {r.message}; outputs in {r.out_dir}")
        else:
            print(f"{r.video}: {r.frames} frames, {r.people} person(s), {r.seconds:.1f} s -> {r.out_dir}")
            for path in r.outputs:
                print(f"  {path}")
        return 0
    if not args.no_html:
        log.info("gallery: %s", write_gallery(args.out, reports))
    print(summary_table(reports))
    return 1 if any(r.status == "failed" for r in reports) else 0


def _print_profile(reports: list) -> None:
    """Seconds per stage summed over the clips that ran."""
    total, wall = StageTimes(), 0.0
    for r in reports:
        for stage, seconds in r.timings.items():
            if stage == "wall":
                wall += seconds
            else:
                total.add(stage, seconds)
    print(total.table(wall) if wall else "profile: no clip ran")


def download_main(argv: Sequence[str]) -> int:
    p = Parser(prog="vis.py download", description="Fetch checkpoints into the checkpoint folder.")
    p.add_argument("names", nargs="*", help=f"checkpoint names (default: {' '.join(default_downloads())}, the models of --preset auto here)")
    p.add_argument("--all", action="store_true", help="every known checkpoint")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    setup_logging(0, args.quiet)
    names = list(all_entries()) if args.all else (args.names or list(default_downloads()))
    for path in ensure_downloaded(names, progress=not args.quiet):
        print(f"ok  {path}")
    return 0


def list_main(argv: Sequence[str]) -> int:
    Parser(prog="vis.py list", description="Every checkpoint the tools know by name.").parse_args(argv)
    entries = all_entries()
    width = max(map(len, entries))
    for name, entry in entries.items():
        here = "here   " if entry.path.is_file() else "missing"
        print(f"{name:<{width}}  {here}  {entry.path}")
    return 0


def _run_main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose, args.quiet)
    with logging_redirect_tqdm():
        return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["download"]:
        return report_errors(lambda: download_main(argv[1:]))
    if argv[:1] == ["list"]:
        return report_errors(lambda: list_main(argv[1:]))
    args = build_parser().parse_args(argv)
    return report_errors(lambda: _run_main(args))
