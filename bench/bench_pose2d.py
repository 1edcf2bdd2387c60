"""2D stage speed: HRNet crops per second the seeds' way vs ours, and detector frames per second.

HRNet-W48 384x288 with random weights runs on person crops from the real clip
(``../shared/media/vtest_15s.mp4``), two ways in one run, on identical crops:

- seeds: one frame at a time, a batch = the people in that frame;
- ours: :class:`demo.pose2d.topdown.TopDownEstimator` with crops of many frames per batch.

Person boxes come from the moving pixels of the static-camera clip (difference from its
median frame), only to have real people to crop; the product detects with YOLO. The detector line times
YOLO (random weights from the model yaml, the architecture is what costs) per frame and
in batches of frames.

    python bench/bench_pose2d.py [--frames 40] [--device auto] [--detector yolo26l.yaml]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.pose2d.detect import DetectorConfig, PersonDetector  # noqa: E402
from demo.pose2d.hrnet import HRNET_VARIANTS, HRNet  # noqa: E402
from demo.pose2d.topdown import TopDownEstimator  # noqa: E402
from demo.io.video import read_frames  # noqa: E402
from core.runtime import configure_runtime  # noqa: E402

CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "vtest_15s.mp4"


def moving_people_boxes(frames: list[np.ndarray], background: np.ndarray) -> list[np.ndarray]:
    """Boxes ``(n, 4)`` xyxy pixels of upright moving blobs: the clip's camera is static, so
    pixels far from the median frame are the walking people."""
    bg = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY).astype(np.int16)
    kernel = np.ones((7, 7), np.uint8)
    out = []
    for frame in frames:
        moving = (np.abs(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.int16) - bg) > 30).astype(np.uint8)
        moving = cv2.dilate(cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), kernel)
        _, _, stats, _ = cv2.connectedComponentsWithStats(moving)
        people = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:] if area > 400 and h > 1.2 * w]
        out.append(np.array(people, np.float32).reshape(-1, 4))
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames of the clip to use")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, help="our crops per forward pass (default: the app's, 4 CPU / 64 CUDA)")
    parser.add_argument("--detector", default="yolo26l.yaml", help="YOLO model yaml (random weights) or .pt")
    parser.add_argument("--video", type=Path, default=CLIP)
    parser.add_argument("--precision", default="fp32", help="auto, fp32, bf16 or fp16 for both networks")
    parser.add_argument("--threads", type=int, help="torch threads (default: every core)")
    args = parser.parse_args()
    runtime = configure_runtime(args.device, args.threads, args.precision)
    device = runtime.device
    clip = list(read_frames(args.video))
    frames = clip[: args.frames]
    boxes = moving_people_boxes(frames, np.median(np.stack(clip[::5]), axis=0).astype(np.uint8))
    crops = sum(map(len, boxes))
    print(f"device: {device} ({torch.get_num_threads()} CPU threads); {len(frames)} frames of {args.video.name}, "
          f"{crops} person crops ({crops / len(frames):.1f} per frame)")  # fmt: skip

    torch.manual_seed(0)
    config = HRNET_VARIANTS["hrnet-w48-384x288"]
    model = HRNet(config).eval()
    est = TopDownEstimator(model, config, device, batch_size=args.batch_size, precision=runtime.precision)
    est.estimate(frames[:1], [np.array([[100, 100, 200, 400]], np.float32)])  # warm-up

    sync(device)
    t = time.perf_counter()
    seeds = [est.estimate_frame(f, b) for f, b in zip(frames, boxes)]
    sync(device)
    t_seeds = time.perf_counter() - t

    sync(device)
    t = time.perf_counter()
    ours = est.estimate(frames, boxes)
    sync(device)
    t_ours = time.perf_counter() - t
    diff = max((np.abs(a.keypoints - b.keypoints).max() for a, b in zip(seeds, ours) if len(a)), default=0.0)

    print(f"{'HRNet-W48 384x288 ' + runtime.precision:<22} {'crops/s':>9} {'ratio':>7}")
    print(f"{'seeds: per frame':<22} {crops / t_seeds:>9.2f} {1.0:>6.2f}x")
    print(f"{'ours: batch ' + str(est.batch_size):<22} {crops / t_ours:>9.2f} {t_seeds / t_ours:>6.2f}x"
          f"   (max keypoint difference {diff:.2g} px)")  # fmt: skip

    detector = PersonDetector(DetectorConfig(model=args.detector), runtime)
    detector(frames[:2])  # warm-up
    sync(device)
    t = time.perf_counter()
    for f in frames:  # the seeds' way: one frame per call
        detector([f])
    sync(device)
    t_single = time.perf_counter() - t
    t = time.perf_counter()
    detector(frames)  # ours: the app's batch size for this device
    sync(device)
    t_batch = time.perf_counter() - t
    name = Path(args.detector).stem
    print(f"detector {name}: {len(frames) / t_single:.2f} frames/s one at a time, "
          f"{len(frames) / t_batch:.2f} frames/s in the app's batches of {detector.batch_size} ({t_single / t_batch:.2f}x)")


if __name__ == "__main__":
    main()
