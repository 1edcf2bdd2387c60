"""Video -> 2D tracks: everyone's 2D keypoints over the frames they are in.

Where things are (one job per module):

- :mod:`.detect`: the person detector (Ultralytics YOLO), batches of frames -> boxes.
- :mod:`.track`: ByteTrack ids frame to frame, which tracks to keep, their frame states.
- :mod:`.tracking_pass`: the first pass over the video: decode, detect, track.
- :mod:`.keypoint_pass`: the second pass: decode again, crop the kept tracks, keypoints.
- :mod:`.topdown`: where a crop becomes keypoints: the affine crop, the batched forward
  pass, heatmap decoding back to frame pixels.
- :mod:`.hrnet`: the HRNet keypoint model (architecture, checkpoint loading); each 2D
  model has its own file here.
- :mod:`.registry`: the 2D models and detectors known by name.
- :mod:`.result`: :class:`Pose2DResult` / :class:`Track2D` and their storage.
- :mod:`.stage`: :class:`Pose2DStage` (models kept for many videos, the cache) and
  :func:`estimate_2d`.
"""
from __future__ import annotations

from .result import Pose2DResult, Track2D
from .stage import Pose2DConfig, Pose2DStage, estimate_2d

__all__ = ["Pose2DConfig", "Pose2DResult", "Pose2DStage", "Track2D", "estimate_2d"]
