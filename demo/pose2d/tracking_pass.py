"""First pass over a video: find the people. Frames are decoded in a background thread,
detected in batches, tracked, and the tracks worth keeping are chosen
(:func:`demo.pose2d.track.select_tracks`). Nothing but boxes is kept: the keypoint pass decodes
the video again and crops only the kept tracks, so HRNet never sees a crop that is
thrown away (re-decoding costs a few percent of the run, see ``--profile``)."""
from __future__ import annotations

import logging
from itertools import islice
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..io.background import Prefetch
from ..io.timing import StageTimes
from ..io.video import VideoError, VideoInfo, read_frames
from .detect import Detections, PersonDetector
from .track import PersonTracker, TrackerConfig, TrackLog, collect_tracks, select_tracks

log = logging.getLogger(__name__)


def batched(items: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    while chunk := list(islice(items, size)):
        yield chunk


def find_people(
    video: Path,
    info: VideoInfo,
    detector: PersonDetector,
    config: TrackerConfig,
    times: StageTimes,
    *,
    progress: bool = True,
) -> tuple[int, list[TrackLog]]:
    """Detect and track everyone in ``video``.

    Returns:
        The number of decoded frames and the kept tracks, longest first.

    Raises:
        VideoError: the video has no decodable frame.
    """
    tracker = PersonTracker(config, float(info.fps))
    detections: list[Detections] = []
    matches: list[tuple[int, int, int]] = []
    degenerate = 0
    bar = tqdm(total=info.num_frames or None, unit="frame", desc="detect+track", disable=not progress, leave=False)
    with Prefetch(read_frames(video), depth=2 * detector.batch_size + 2, name="decode-detect") as frames, bar:
        for chunk in batched(iter(frames), detector.batch_size):
            if not detections:
                with times.stage("setup"):  # an exported detector is made for the clip's frame size
                    detector.prepare(chunk[0].shape[:2])
            with times.stage("detect"):
                found = []
                for dets in detector(chunk):
                    kept, dropped = dets.without_degenerate()
                    degenerate += dropped
                    found.append(kept)
            with times.stage("track"):
                for dets in found:
                    matches += tracker.update(dets)
            detections += found
            bar.update(len(chunk))
    times.add("decode", frames.produce_seconds)
    times.add("idle", frames.wait_seconds)
    if degenerate:
        log.warning("%s: dropped %d detector box(es) of zero width or height", video.name, degenerate)
    if not detections:
        raise VideoError(f"video {video} contains no decodable frames")
    with times.stage("track"):
        tracks = select_tracks(collect_tracks(detections, matches), config)
    log.info("%s: %d frames, %d track(s) kept", video.name, len(detections), len(tracks))
    return len(detections), tracks
