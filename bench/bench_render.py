"""Rendering speed: the seeds' per-frame matplotlib figures against ``SkeletonRenderer``.

Measures, in one run and on the same poses drawn over the same decoded frames:
  1. the seeds' protocol, per frame: a matplotlib figure of the input with the 2D
     skeletons saved as PNG at dpi 200, a 3D figure (elev 15, azim 70, the seeds' axis
     limits) saved as PNG at dpi 200, both PNGs read back and composited into a third
     PNG in a temp folder;
  2. ``SkeletonRenderer.render``, all joints confident (the render frames/s), and again
     with low-score joints (drawn faded) on every person and one person interpolated
     (``filled``: dashed bones, hollow joints, tag) in every other frame;
  3. ``SkeletonRenderer.render`` streamed into the app's H.264 writer
     (:class:`demo.io.video.H264Writer`: PyAV, libx264 veryfast, yuv420p), no PNG in between.
Decoding (and resizing the clip to the benchmark size) happens before any clock starts.
The poses are synthetic: a walking Human3.6M skeleton in metres, three people with
different headings, shown front-on at three places in the frame.

Usage: python bench/bench_render.py [--seed-frames 10] [--frames 300] [--preset veryfast]
(``--seed-frames 0`` skips the slow seeds' protocol.)
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere; the repo is not installed

from seeds_demo import composite

from core.joints import H36M_BONE_SIDES, H36M_BONES, Side
from demo.render import PersonPose, RenderConfig, SkeletonRenderer
from demo.io.video import H264Writer, VideoInfo, read_frames

CLIP = REPO.parent / "shared" / "media" / "vtest_15s.mp4"
SIZE = (1280, 720)  # (width, height) of the benchmark frames

#: A standing Human3.6M skeleton, (17, 3) metres, z up, facing +y (its right is +x).
STANDING = np.array([
    [0.00, 0.00, 0.95], [0.13, 0.00, 0.93], [0.13, 0.01, 0.50], [0.13, -0.02, 0.08],
    [-0.13, 0.00, 0.93], [-0.13, 0.01, 0.50], [-0.13, -0.02, 0.08],
    [0.00, -0.01, 1.18], [0.00, 0.00, 1.42], [0.00, 0.07, 1.52], [0.00, 0.02, 1.66],
    [-0.18, 0.00, 1.41], [-0.22, 0.00, 1.13], [-0.24, 0.04, 0.87],
    [0.18, 0.00, 1.41], [0.22, 0.00, 1.13], [0.24, 0.04, 0.87],
])  # fmt: skip


def _swing(points: np.ndarray, pivot: np.ndarray, angle: float) -> np.ndarray:
    """Rotate ``(n, 3)`` points about the lateral (x) axis through ``pivot``: forward is +y."""
    c, s = np.cos(angle), np.sin(angle)
    q = points - pivot
    return pivot + np.stack([q[:, 0], c * q[:, 1] - s * q[:, 2], s * q[:, 1] + c * q[:, 2]], axis=-1)


def walking_pose(t: float, heading: float, stride_s: float = 1.1) -> np.ndarray:
    """``(17, 3)`` metres at time ``t`` seconds: legs and arms swing in opposition, knees
    bend on the back swing; turned by ``heading`` radians about z; lowest joint at z = 0."""
    phase = 2 * np.pi * t / stride_s
    pose = STANDING.copy()
    for hip, knee, ankle, sign in ((1, 2, 3, 1.0), (4, 5, 6, -1.0)):
        pose[[knee, ankle]] = _swing(pose[[knee, ankle]], pose[hip], 0.45 * sign * np.sin(phase))
        bend = 0.5 * max(0.0, -sign * np.sin(phase + 0.6))
        pose[[ankle]] = _swing(pose[[ankle]], pose[knee], -bend)
    for shoulder, elbow, wrist, sign in ((14, 15, 16, -1.0), (11, 12, 13, 1.0)):
        pose[[elbow, wrist]] = _swing(pose[[elbow, wrist]], pose[shoulder], 0.35 * sign * np.sin(phase))
        pose[[wrist]] = _swing(pose[[wrist]], pose[elbow], 0.3)
    c, s = np.cos(heading), np.sin(heading)
    pose = pose @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
    pose[:, 2] -= pose[:, 2].min()
    return pose


def to_image(pose: np.ndarray, centre_x: float, feet_y: float, height_px: float) -> np.ndarray:
    """``(17, 2)`` pixels: the pose seen from +y (front-on), feet at ``feet_y``."""
    scale = height_px / 1.7
    return np.stack([centre_x - scale * pose[:, 0], feet_y - scale * pose[:, 2] + 0.15 * scale * pose[:, 1]], axis=-1)


def synthetic_people(frame_index: int, fps: float, width: int, height: int) -> list[PersonPose]:
    """Three walkers (track ids 1, 2, 3) at a quarter, half and three quarters of the width."""
    people = []
    for k, heading in enumerate((0.0, 0.8, -0.6)):
        pose = walking_pose(frame_index / fps + 0.3 * k, heading)
        xy = to_image(pose, width * (k + 1) / 4, height * 0.9, height * 0.45)
        people.append(PersonPose(track_id=k + 1, keypoints_2d=xy, keypoints_3d=pose))
    return people


def with_confidence(people: list[PersonPose], frame_index: int) -> list[PersonPose]:
    """The same people with 2D scores (each person's arm and leg on one side below
    ``min_score``) and, in every other frame, the last one interpolated."""
    out = []
    for k, p in enumerate(people):
        scores = np.full(17, 0.9)
        scores[[2, 3, 15, 16] if k % 2 else [5, 6, 12, 13]] = 0.1
        filled = k == len(people) - 1 and frame_index % 2 == 1
        out.append(PersonPose(p.track_id, p.keypoints_2d, p.keypoints_3d, scores_2d=scores, filled=filled))
    return out


def clip_frames(path: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """Up to ``count`` BGR frames resized to ``size``, looping the clip if it is shorter."""
    clip = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in read_frames(path)]
    if not clip:
        raise SystemExit(f"cannot decode {path}")
    return [clip[i % len(clip)] for i in range(count)]


def seeds_frame(frame: np.ndarray, people: list[PersonPose], folder: Path, index: int) -> tuple[float, float, float]:
    """The seeds' figure protocol for one frame, three PNGs written to ``folder``.

    Returns the seconds spent on the 2D figure, the 3D figure and the composite.
    """
    import matplotlib.pyplot as plt

    h, w = frame.shape[:2]
    t0 = time.perf_counter()
    side_colour = {Side.LEFT: (0, 0, 1), Side.RIGHT: (1, 0, 0), Side.CENTRE: (1, 0, 0)}

    # 2D: the frame at its own resolution with every skeleton on it.
    fig = plt.figure(figsize=(w / 200, h / 200))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(frame[..., ::-1])
    ax.set_axis_off()
    for person in people:
        xy = person.keypoints_2d
        for (a, b), side in zip(H36M_BONES, H36M_BONE_SIDES):
            ax.plot(xy[[a, b], 0], xy[[a, b], 1], lw=3, color=side_colour[side])
        ax.scatter(xy[:, 0], xy[:, 1], s=9, color=(0, 1, 0), zorder=3)
    path_2d = folder / f"{index:04d}_2D.png"
    fig.savefig(path_2d, dpi=200)
    plt.close(fig)
    t1 = time.perf_counter()

    # 3D: the seeds support one person; all three skeletons share their single axes here.
    fig = plt.figure(figsize=(9.6, 5.4))
    ax = fig.add_subplot(projection="3d")
    ax.view_init(elev=15.0, azim=70)
    for person in people:
        pose = person.keypoints_3d - person.keypoints_3d[0] * np.array([1.0, 1.0, 0.0])
        for (a, b), side in zip(H36M_BONES, H36M_BONE_SIDES):
            ax.plot(pose[[a, b], 0], pose[[a, b], 1], pose[[a, b], 2], lw=2, color=side_colour[side])
    radius = 0.72
    ax.set_xlim3d([-radius, radius])
    ax.set_ylim3d([-radius, radius])
    ax.set_zlim3d([0.0, 2 * radius])
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((1.0, 1.0, 1.0, 0.0))
    ax.tick_params("x", labelbottom=False)
    ax.tick_params("y", labelleft=False)
    ax.tick_params("z", labelleft=False)
    path_3d = folder / f"{index:04d}_3D.png"
    fig.savefig(path_3d, dpi=200, format="png", bbox_inches="tight")
    plt.close(fig)
    t2 = time.perf_counter()

    # Composite: both PNGs read back, cropped as the seeds crop, saved as a third PNG.
    composite(path_2d, path_3d, folder / f"{index:04d}_pose.png")
    return t1 - t0, t2 - t1, time.perf_counter() - t2


def bench_seeds(frames: list[np.ndarray], people: list[list[PersonPose]], folder: Path) -> tuple[float, np.ndarray]:
    """Frames per second of the seeds' protocol, and its mean seconds per frame for the
    2D figure, the 3D figure and the composite."""
    import matplotlib

    matplotlib.use("Agg")
    seeds_frame(frames[0], people[0], folder, 0)  # warm-up: imports, font cache
    start = time.perf_counter()
    stages = [seeds_frame(frame, persons, folder, i) for i, (frame, persons) in enumerate(zip(frames, people))]
    return len(frames) / (time.perf_counter() - start), np.mean(stages, axis=0)


def bench_render(renderer: SkeletonRenderer, frames: list[np.ndarray], people: list[list[PersonPose]]) -> float:
    """Frames per second of ``render`` alone."""
    renderer.render(frames[0], people[0])  # warm-up: builds the cached grid and layout
    start = time.perf_counter()
    for frame, persons in zip(frames, people):
        renderer.render(frame, persons)
    return len(frames) / (time.perf_counter() - start)


def bench_render_encode(renderer: SkeletonRenderer, frames: list[np.ndarray], people: list[list[PersonPose]],
                        path: Path, fps: float, preset: str) -> float:
    """Frames per second of ``render`` streamed into the product's H.264 writer, closing included."""
    out_h, out_w = renderer.output_size(*frames[0].shape[:2])
    start = time.perf_counter()
    with H264Writer(path, Fraction(fps).limit_denominator(1001), (out_w, out_h), preset=preset) as writer:
        for frame, persons in zip(frames, people):
            writer.write(renderer.render(frame, persons))
    return len(frames) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed-frames", type=int, default=10, help="frames for the slow seeds' protocol (0 skips it)")
    parser.add_argument("--frames", type=int, default=300, help="frames for our renderer (at least 1)")
    parser.add_argument("--preset", default="veryfast", help="libx264 preset (the app's H264Writer uses veryfast)")
    parser.add_argument("--video", type=Path, default=CLIP, help="clip whose frames are the backgrounds")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.seed_frames < 0:
        parser.error("--frames must be at least 1 and --seed-frames at least 0")

    fps = float(VideoInfo.probe(args.video).fps)
    frames = clip_frames(args.video, max(args.frames, args.seed_frames), SIZE)
    people = [synthetic_people(i, fps, *SIZE) for i in range(len(frames))]
    # The seeds' layout: the synthetic poses are in its display frame (z up).
    renderer = SkeletonRenderer(RenderConfig(layout="slots"))
    out_h, out_w = renderer.output_size(SIZE[1], SIZE[0])
    print(f"machine: {platform.processor() or platform.machine()}, {cv2.getNumberOfCPUs()} CPUs; "
          f"input {SIZE[0]}x{SIZE[1]}, 3 people, output {out_w}x{out_h}")

    with tempfile.TemporaryDirectory(prefix="bench_render_") as tmp:
        folder = Path(tmp)
        seeds = None
        if args.seed_frames > 0:
            seeds, stages = bench_seeds(frames[: args.seed_frames], people[: args.seed_frames], folder)
            print(f"(1) seeds' matplotlib + PNG protocol: {seeds:8.2f} frames/s  ({1000 / seeds:7.1f} ms/frame, "
                  f"{args.seed_frames} frames; 2D figure {1000 * stages[0]:.0f} ms, 3D figure "
                  f"{1000 * stages[1]:.0f} ms, composite {1000 * stages[2]:.0f} ms)")
        ours = bench_render(renderer, frames[: args.frames], people[: args.frames])
        print(f"(2) SkeletonRenderer.render:          {ours:8.2f} frames/s  ({1000 / ours:7.1f} ms/frame, "
              f"{args.frames} frames)")
        unsure = [with_confidence(p, i) for i, p in enumerate(people[: args.frames])]
        faded = bench_render(renderer, frames[: args.frames], unsure)
        print(f"    with faded joints, interpolated:  {faded:8.2f} frames/s  ({1000 / faded:7.1f} ms/frame, "
              f"{args.frames} frames)")
        encoded = bench_render_encode(renderer, frames[: args.frames], people[: args.frames],
                                      folder / "bench.mp4", fps, args.preset)
        size_mb = (folder / "bench.mp4").stat().st_size / 1e6
        print(f"(3) render + libx264 ({args.preset}) encode: {encoded:8.2f} frames/s  "
              f"({1000 / encoded:7.1f} ms/frame, {args.frames} frames, {size_mb:.1f} MB)")
    if seeds is not None:
        print(f"ratio ours/seeds: render {ours / seeds:.0f}x, render + encode {encoded / seeds:.0f}x")


if __name__ == "__main__":
    main()
