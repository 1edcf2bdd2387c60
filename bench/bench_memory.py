"""Peak memory of the stages after 2D, for long clips: ``python bench/bench_memory.py``.

Synthetic case (the issue's "1 hour of street video"): a 2D result of M minutes at 30 fps
with 25 tracks per minute (1,500 per hour), each 2 to 60 s long, walking people with
keypoint noise. Each case runs in a fresh child process, whose own peak RSS (``wait4``)
is reported, through: the 3D stage (:func:`demo.pose3d.lift_people`: smoothing, the
lifter, placement), ``pose3d.npz`` + ``pose3d.json``, the CSV table, and the viewer page.
The lifter is STCFormer-27 with the reference fixture's small configuration, in seq2seq
mode without flip (the arithmetic of full-size weights and the centre protocol is not
what this measures; ``bench_lift.py`` is).
Time is reported per present person-frame: flat from 1 to 60 minutes means nothing in
these stages grows faster than the people in the clip.

GIF case: ``--gif-minutes`` of a 480 px, 10 fps GIF through :class:`demo.render.gif.GifWriter`
(child process peak RSS, FFmpeg's children included via ``RUSAGE_CHILDREN`` of the child).

Real case (``--real-minutes``): the shared street clip looped to that length, through
the whole command (``vis.py --no-video``) with light models (a random YOLO26n at 320 px,
the HRNet and STCFormer fixtures, at most 6 people), peak RSS of the run. The rest is the
defaults: ``--preset auto`` (on a CPU: STCFormer in seq2seq mode) and ``--backend auto``
(OpenVINO on an x86 CPU); on the seeds' centre protocol with PyTorch eager the same run
took over an hour of CPU time here and was stopped.

The same script runs against an older checkout (``--tree PATH``): its dense result layout
(tracks x frames) is detected and fed the same synthetic tracks, for before/after.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from _common import REPO, encode_clip, looped, machine_line, read_clip, run_child, shared_dir

FPS = 30
TRACKS_PER_MINUTE = 25


def synthetic_tracks(minutes: float, seed: int = 0) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(track_id, start, h36m (n, 17, 2) pixels, scores (n, 17))`` per track, 2-60 s each."""
    rng = np.random.default_rng(seed)
    frames = int(minutes * 60 * FPS)
    base = rng.uniform([-40, -120], [40, 120], (17, 2)).astype(np.float32)  # a standing body, pixels
    out = []
    for k in range(max(1, round(minutes * TRACKS_PER_MINUTE))):
        n = int(rng.uniform(2, 60) * FPS)
        start = int(rng.integers(0, max(1, frames - n)))
        n = min(n, frames - start)
        path = np.linspace(rng.uniform([100, 300], [1800, 700]), rng.uniform([100, 300], [1800, 700]), n)
        h36m = (base[None] + path[:, None] + rng.normal(0, 1.5, (n, 17, 2))).astype(np.float32)
        out.append((k + 1, start, h36m, rng.uniform(0.4, 1.0, (n, 17)).astype(np.float32)))
    return out


def child_synthetic(minutes: float, out: Path) -> dict:
    """Run in the child: build the 2D result, then 3D, files, CSV, viewer; print timings."""
    from lifter.checkpoints import load_lifter

    try:
        from core.frames import FrameState
        from demo.io.video import VideoMeta
        from demo.pose2d.result import Pose2DResult, Track2D
    except ImportError:  # an older checkout (--tree): the flat 2D modules
        from demo.pose2d import Pose2DResult, Track2D, VideoMeta
        from demo.track import FrameState

    frames = int(minutes * 60 * FPS)
    video = VideoMeta("synthetic.mp4", "0" * 64, 1920, 1080, Fraction(FPS), frames, 0)
    import demo.pose3d as pose3d_pkg

    dense = not hasattr(pose3d_pkg, "lift_people")  # an older checkout: tracks x frames
    tracks = []
    for track_id, start, h36m, scores in synthetic_tracks(minutes):
        n = len(h36m)
        state = np.full(n, FrameState.DETECTED, np.uint8)
        boxes = np.zeros((n, 4), np.float32)
        if dense:
            def full(a: np.ndarray, fill: float = np.nan) -> np.ndarray:
                d = np.full((frames, *a.shape[1:]), fill, a.dtype)
                d[start : start + n] = a
                return d

            tracks.append(Track2D(track_id, full(state, 0), full(boxes), full(np.ones(n, np.float32)), full(h36m),
                                  full(scores), full(h36m), full(scores)))  # fmt: skip
        else:
            tracks.append(Track2D(track_id, start, state, boxes, np.ones(n, np.float32), h36m, scores, h36m, scores))
    pose2d = Pose2DResult(video, tracks, {})
    person_frames = sum(len(t[2]) for t in synthetic_tracks(minutes))
    model = load_lifter(str(shared_dir() / "fixtures" / "stcformer_ref.pth"), frames=27)
    from lifter.inference import LiftOptions

    options = LiftOptions(mode="seq2seq", flip=False)  # a window gives 27 frames: the lifter's share stays small
    times = {}
    start = time.perf_counter()
    lift = pose3d_pkg.lift_tracks if dense else pose3d_pkg.lift_people
    result = lift(pose2d, model, options, progress=False)
    times["lift_s"] = time.perf_counter() - start
    del pose2d, tracks
    start = time.perf_counter()
    result.save(out)
    times["save_s"] = time.perf_counter() - start
    from demo.export.csv_table import write_joints_csv

    start = time.perf_counter()
    write_joints_csv(out / "clip_joints.csv", result)
    times["csv_s"] = time.perf_counter() - start
    from demo.viewer import write_viewer

    start = time.perf_counter()
    write_viewer(out, "clip", result, video_file=None)
    times["viewer_s"] = time.perf_counter() - start
    return {"person_frames": person_frames, "tracks": len(result.tracks), **times}


def child_gif(minutes: float, out: Path) -> dict:
    import resource

    try:
        from demo.render.gif import GifWriter
    except ImportError:  # an older checkout (--tree)
        from demo.gif import GifWriter

    frames = read_clip(shared_dir() / "media" / "vtest_15s.mp4", 150)
    start = time.perf_counter()
    count = int(minutes * 60 * 10)
    with GifWriter(out / "clip.gif", 10, (frames[0].shape[1], frames[0].shape[0]), 480) as writer:
        for frame in looped(frames, count):
            writer.write(frame)
    return {"frames": count, "seconds": time.perf_counter() - start, "size_mb": (out / "clip.gif").stat().st_size / 1e6,
            "ffmpeg_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}  # fmt: skip


def real_run(minutes: float, work: Path) -> dict:
    """The whole command on the street clip looped to ``minutes`` (light models)."""
    sys.path.insert(0, str(REPO))
    from tests.conftest import make_random_yolo

    frames = read_clip(shared_dir() / "media" / "vtest_15s.mp4")
    clip = encode_clip(work / "street.mp4", looped(frames, int(minutes * 60 * 10)), Fraction(10))
    yolo = make_random_yolo(work / "yolo.pt", person_bias=4.0)
    fixtures = shared_dir() / "fixtures"
    cmd = [sys.executable, str(REPO / "vis.py"), "--video", str(clip), "--out", str(work / "out"), "-q", "--no-video",
           "--detector", str(yolo), "--det-size", "320", "--max-people", "6",
           "--pose2d", str(fixtures / "hrnet_ref.pth"), "--pose2d-size", "96", "128",
           "--checkpoint", str(fixtures / "stcformer_ref.pth"), "--frames", "27", "--device", "cpu"]  # fmt: skip
    run = run_child(cmd, work / "real.log")
    if run.returncode:
        raise SystemExit(run.output[-2000:])
    done = json.loads((work / "out" / "street" / "done.json").read_text())
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, "frames": done["frames"], "people": done["people"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="*", default=[1, 10, 60], help="synthetic clip lengths")
    p.add_argument("--gif-minutes", type=float, nargs="*", default=[1, 10], help="GIF lengths (10 fps)")
    p.add_argument("--real-minutes", type=float, nargs="*", default=[], help="real looped clip lengths")
    p.add_argument("--tree", type=Path, default=REPO, help="the checkout to measure (default: this one)")
    p.add_argument("--child", choices=("synthetic", "gif"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        sys.path.insert(0, str(args.tree))
        fn = child_synthetic if args.child == "synthetic" else child_gif
        print("RESULT " + json.dumps(fn(args.minutes[0], args.out)))
        return
    print(machine_line())
    env = dict(os.environ, PYTHONPATH=str(args.tree), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    print(f"tree: {args.tree}")
    print("| case | person-frames | tracks | peak RSS | 3D stage | files | CSV | viewer | us per person-frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, __file__, "--child", "synthetic", "--minutes", str(minutes), "--out", tmp,
                   "--tree", str(args.tree)]  # fmt: skip
            run = run_child(cmd, Path(tmp) / "child.log", env=env, cwd=args.tree)
            lines = [line for line in run.output.splitlines() if line.startswith("RESULT ")]
            if run.returncode or not lines:
                print(f"| {minutes:g} min synthetic | - | - | failed (exit {run.returncode}, peak {run.peak_rss_mb:,.0f} MB) "
                      f"| | | | | |  {run.output.strip().splitlines()[-1:]}")  # fmt: skip
                continue
            r = json.loads(lines[0][7:])
            total = r["lift_s"] + r["save_s"] + r["csv_s"] + r["viewer_s"]
            print(f"| {minutes:g} min synthetic | {r['person_frames']:,} | {r['tracks']} | {run.peak_rss_mb:,.0f} MB "
                  f"| {r['lift_s']:.1f} s | {r['save_s']:.1f} s | {r['csv_s']:.1f} s | {r['viewer_s']:.1f} s "
                  f"| {1e6 * total / r['person_frames']:.0f} |")  # fmt: skip
    for minutes in args.gif_minutes:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, __file__, "--child", "gif", "--minutes", str(minutes), "--out", tmp, "--tree", str(args.tree)]
            run = run_child(cmd, Path(tmp) / "child.log", env=env, cwd=args.tree)
            lines = [line for line in run.output.splitlines() if line.startswith("RESULT ")]
            if not lines:
                print(f"| GIF {minutes:g} min at 10 fps | failed: {run.output.strip().splitlines()[-1:]} |")
                continue
            r = json.loads(lines[0][7:])
            print(f"| GIF {minutes:g} min at 10 fps ({r['frames']} frames, {r['size_mb']:.0f} MB) | | | "
                  f"{run.peak_rss_mb:,.0f} MB (FFmpeg {r['ffmpeg_peak_mb']:,.0f} MB) | | | | | {r['seconds']:.0f} s |")  # fmt: skip
    for minutes in args.real_minutes:
        with tempfile.TemporaryDirectory() as tmp:
            r = real_run(minutes, Path(tmp))
            print(f"| real {minutes:g} min, whole run ({r['frames']} frames, {r['people']} people) | | | "
                  f"{r['peak_rss_mb']:,.0f} MB | | | | | {r['seconds']:.0f} s total |")  # fmt: skip


if __name__ == "__main__":
    main()
