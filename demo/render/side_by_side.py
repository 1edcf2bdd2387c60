"""The rendered outputs: the side-by-side video (input with 2D skeletons | 3D skeletons)
and the GIF, streamed from the decoder through the renderer into the encoders.

Decoding runs in a background thread ahead of the renderer, and encoding in another
behind it, so the main thread only draws. Without the mp4, decoding stops after the
GIF's last frame. Every writer and thread is owned by one :class:`contextlib.ExitStack`:
if anything fails (a writer that cannot start, an encoder error, a bad frame), the
threads are joined, FFmpeg children killed and temporary files removed before the error
reaches the caller.

What is drawn for each person comes from the 3D result, joined to the 2D result by
track id: on the left the 2D keypoints that were lifted (after ``--smooth``; the 2D
model's raw output with ``RenderConfig.keypoints_2d = "raw"``), on the right the 3D
joints (world space, or the seeds' display frame for the slots layout).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.frames import FrameState

from ..io.background import BackgroundSink, Prefetch
from ..io.timing import StageTimes
from ..io.video import H264Writer, VideoError, read_frames
from ..pose2d.result import Pose2DResult, Track2D
from ..pose3d.result import Pose3DResult, Track3D
from .display_frame import world_for_display
from .gif import GifOptions, GifWriter
from .person import PersonPose
from .renderer import SkeletonRenderer
from .world_panel import WorldScene


def people_by_frame(pose3d: Pose3DResult, pose2d: Pose2DResult | None, config_2d: str = "lifted",
                    layout: str = "world") -> Iterator[list[PersonPose]]:  # fmt: skip
    """Everyone present in each frame, frame after frame (``num_frames`` lists): their 2D
    keypoints (lifted, or ``raw`` from ``pose2d``), 2D scores, whether the pose was
    filled, and 3D joints in world space (``world`` layout) or the display frame (``slots``).
    Tracks enter and leave by their spans, so a frame costs only the people in it."""
    raw: dict[int, Track2D] = {t.track_id: t for t in pose2d.tracks} if config_2d == "raw" and pose2d else {}
    if config_2d == "raw" and pose2d is None:
        raise ValueError("drawing the raw 2D keypoints needs the 2D result")
    order = sorted(pose3d.tracks, key=lambda t: t.start)
    active: list[Track3D] = []
    nxt = 0
    for t in range(pose3d.num_frames):
        while nxt < len(order) and order[nxt].start <= t:
            active.append(order[nxt])
            nxt += 1
        active = [tr for tr in active if tr.stop > t]
        people = []
        for tr in active:
            i = t - tr.start
            if tr.state[i] == FrameState.ABSENT:
                continue
            kp2d = raw[tr.track_id].h36m[t - raw[tr.track_id].start] if raw else tr.keypoints_2d[i]
            kp3d = tr.world[i] if layout == "world" else world_for_display(tr.camera_at(i)[None])[0]
            people.append(PersonPose(track_id=tr.track_id, keypoints_2d=kp2d, keypoints_3d=kp3d,
                                     scores_2d=tr.scores[i], filled=bool(tr.state[i] == FrameState.FILLED)))  # fmt: skip
        people.sort(key=lambda p: p.track_id)
        yield people


def world_scene(pose3d: Pose3DResult) -> WorldScene:
    """The clip's world scene: one view and floor fitted to every path and body."""
    roots = {tr.track_id: tr.dense("world", pose3d.num_frames)[:, 0] for tr in pose3d.tracks}
    return WorldScene.from_tracks(roots, pose3d.fps, [tr.world for tr in pose3d.tracks])


def write_side_by_side(
    video: Path,
    out_dir: Path,
    pose3d: Pose3DResult,
    renderer: SkeletonRenderer,
    *,
    mp4: bool,
    gif: GifOptions | None,
    times: StageTimes,
    pose2d: Pose2DResult | None = None,
    progress: bool = True,
) -> list[Path]:
    """Render every frame (or the GIF's frames) and write ``<stem>_pose.mp4`` and/or
    ``<stem>_pose.gif``; returns their paths. ``pose2d`` is needed only to draw the raw
    2D keypoints (``RenderConfig.keypoints_2d = "raw"``)."""
    if not mp4 and gif is None:
        return []
    meta = pose3d.video
    size = renderer.output_size(meta.height, meta.width)[::-1]
    stem = video.stem
    gif_frames = set(gif.frame_indices(meta.num_frames, meta.fps)) if gif else set()
    last = meta.num_frames if mp4 else max(gif_frames) + 1
    layout = renderer.config.layout
    scene = world_scene(pose3d) if layout == "world" else None  # one view for the whole clip
    people = people_by_frame(pose3d, pose2d, renderer.config.keypoints_2d, layout)
    with ExitStack() as stack:
        video_writer = stack.enter_context(H264Writer(out_dir / f"{stem}_pose.mp4", meta.fps, size)) if mp4 else None
        gif_writer = (stack.enter_context(GifWriter(out_dir / f"{stem}_pose.gif", gif.output_fps(meta.fps), size, gif.width))
                      if gif else None)  # fmt: skip

        def encode(item: tuple[int, np.ndarray]) -> None:
            t, image = item
            if video_writer is not None:
                video_writer.write(image)
            if gif_writer is not None and t in gif_frames:
                gif_writer.write(image)

        frames = stack.enter_context(Prefetch(read_frames(video), depth=8, name="decode-render"))
        # entered last, left first: the encoder thread is joined before the writers close
        sink: BackgroundSink[tuple[int, np.ndarray]] = stack.enter_context(BackgroundSink(encode, depth=8, name="encode"))
        try:
            with tqdm(total=last, unit="frame", desc="rendering", disable=not progress, leave=False) as bar:
                for t, (frame, here) in enumerate(zip(frames, people)):
                    if t >= last:
                        break
                    bar.update(1)
                    if video_writer is None and t not in gif_frames:
                        continue
                    start = time.perf_counter()
                    image = renderer.render(frame, here, scene=scene, frame_index=t)
                    times.add("render", time.perf_counter() - start)
                    sink.put((t, image))
            sink.close()
        finally:
            times.add("decode", frames.produce_seconds)
            times.add("idle", frames.wait_seconds)
        if video_writer is not None and video_writer.frames != meta.num_frames:
            raise VideoError(f"{video} decoded to {video_writer.frames} frames while rendering, {meta.num_frames} before")
        start = time.perf_counter()
        paths = [w.path for w in (video_writer, gif_writer) if w is not None]
        stack.close()  # publishes the files (the writers' __exit__ closes them)
        times.add("encode", sink.consume_seconds + time.perf_counter() - start)
    return paths
