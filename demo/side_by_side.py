"""The rendered outputs: the side-by-side video (input with 2D skeletons | 3D skeletons)
and the GIF, streamed from the decoder through the renderer into the encoders.

Decoding runs in a background thread ahead of the renderer, and encoding in another
behind it, so the main thread only draws. Without the mp4, decoding stops after the
GIF's last frame.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .background import BackgroundSink, Prefetch
from .gif import GifOptions, GifWriter
from .pose2d import Pose2DResult
from .pose3d import Pose3DResult
from .render import PersonPose, SkeletonRenderer, WorldScene
from .timing import StageTimes
from .track import FrameState
from .video import H264Writer, VideoError, read_frames


@dataclass(frozen=True)
class VideoOutputs:
    """Which rendered files to write.

    Attributes:
        video: the side-by-side ``<clip>_pose.mp4``.
        gif: GIF options, or None for no GIF.
        html: the 3D viewer page ``<clip>_viewer.html`` (:mod:`demo.viewer`).
    """

    video: bool = True
    gif: GifOptions | None = None
    html: bool = True

    @property
    def any(self) -> bool:
        return self.video or self.gif is not None


def people_at(t: int, pose2d: Pose2DResult, pose3d: Pose3DResult, layout: str = "world") -> list[PersonPose]:
    """Everyone present in frame ``t``, with their 2D scores and whether the pose was filled;
    3D joints in world space for the ``world`` layout, the seeds' display frame for ``slots``."""
    return [
        PersonPose(
            track_id=tr2.track_id,
            keypoints_2d=tr2.h36m[t],
            keypoints_3d=(tr3.world if layout == "world" else tr3.display)[t],
            scores_2d=tr2.h36m_scores[t],
            filled=bool(tr2.state[t] == FrameState.FILLED),
        )
        for tr2, tr3 in zip(pose2d.tracks, pose3d.tracks)
        if tr2.present[t]
    ]


def write_side_by_side(
    video: Path,
    out_dir: Path,
    pose2d: Pose2DResult,
    pose3d: Pose3DResult,
    renderer: SkeletonRenderer,
    outputs: VideoOutputs,
    times: StageTimes,
    *,
    progress: bool = True,
) -> list[Path]:
    """Render every frame (or the GIF's frames) and write the files; returns their paths."""
    if not outputs.any:
        return []
    meta = pose2d.video
    size = renderer.output_size(meta.height, meta.width)[::-1]
    stem = video.stem
    gif_options = outputs.gif
    mp4 = H264Writer(out_dir / f"{stem}_pose.mp4", meta.fps, size) if outputs.video else None
    gif_frames = set(gif_options.frame_indices(meta.num_frames, meta.fps)) if gif_options else set()
    last = meta.num_frames if mp4 is not None else max(gif_frames) + 1
    gif = GifWriter(out_dir / f"{stem}_pose.gif", gif_options.output_fps(meta.fps), size, gif_options.width) if gif_options else None
    writers = [w for w in (mp4, gif) if w is not None]

    def encode(item: tuple[int, np.ndarray]) -> None:
        t, image = item
        if mp4 is not None:
            mp4.write(image)
        if gif is not None and t in gif_frames:
            gif.write(image)

    layout = renderer.config.layout
    scene = None
    if layout == "world":  # one view and floor for the whole clip, fitted to every path
        scene = WorldScene.from_tracks({tr.track_id: tr.world[:, 0] for tr in pose3d.tracks}, float(meta.fps),
                                       [tr.world for tr in pose3d.tracks])  # fmt: skip
    frames = Prefetch(read_frames(video), depth=8, name="decode-render")
    sink: BackgroundSink[tuple[int, np.ndarray]] = BackgroundSink(encode, depth=8, name="encode")
    try:
        with tqdm(total=last, unit="frame", desc="rendering", disable=not progress, leave=False) as bar:
            for t, frame in enumerate(frames):
                if t >= last:
                    break
                bar.update(1)
                if mp4 is None and t not in gif_frames:
                    continue
                start = time.perf_counter()
                image = renderer.render(frame, people_at(t, pose2d, pose3d, layout), scene=scene, frame_index=t)
                times.add("render", time.perf_counter() - start)
                sink.put((t, image))
        sink.close()
        if mp4 is not None and mp4.frames != meta.num_frames:
            raise VideoError(f"{video} decoded to {mp4.frames} frames while rendering, {meta.num_frames} before")
        start = time.perf_counter()
        paths = [w.close() for w in writers]
        times.add("encode", sink.consume_seconds + time.perf_counter() - start)
        return paths
    except BaseException:
        try:
            sink.close()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            pass
        for w in writers:
            w.abort()
        raise
    finally:
        times.add("decode", frames.produce_seconds)
        times.add("idle", frames.wait_seconds)
