"""The seeds' in-the-wild demo (STCFormer / PoseFormerV2 / MHFormer ``demo/vis.py``), re-implemented
from its description (``shared/notes/reference.md``) to be timed against ``vis.py``.

It runs their stages in their order, each the way their code does it, on the CPU:

1. 2D, frame by frame (OpenCV decoding): the person detector on the frame alone (batch 1),
   one person (the highest-confidence box; their SORT tracker is not reproduced: with one
   person it only picks a box), HRNet-W48 384x288 on that one crop (batch 1; their crop
   geometry with the image's aspect ratio, their colour handling, argmax + quarter-pixel
   decoding), under ``torch.no_grad`` as theirs. A frame without a person repeats the previous pose
   (theirs crashes or drops the frame).
2. COCO-17 -> Human3.6M-17.
3. 3D, frame by frame: the window of T frames centred on the frame, edge-padded, screen-
   normalised; the lifter on it (batch 1) and on its mirror image (a second call), autograd
   on, averaged, root at 0 (the centre frame is kept; their STCFormer demo keeps the first,
   which costs the same); the seeds' display rotation; the input with the 2D skeleton drawn
   by OpenCV and saved as PNG; a new matplotlib 3D figure (9.6 x 5.4 in, elev 15, azim 70)
   saved as PNG at dpi 200.
4. Composite, frame by frame: both PNGs read back with ``plt.imread``, cropped, shown side
   by side in a new 15 x 5.4 in figure saved as a third PNG at dpi 200.
5. Video: every composite PNG read with OpenCV and written with ``cv2.VideoWriter`` (mp4v)
   at ``int(fps) + 5`` frames/s, as theirs.

The detector is an Ultralytics YOLO (the seeds use a YOLOv3 416 of their own): importing
Ultralytics and its first ``predict`` lower torch's thread count on small machines
(``OMP_NUM_THREADS=1`` when unset; ``torch.set_num_threads(min(8, cpus - 1))``). That is
left as it happens, as the seeds' code would suffer it; the thread count every model ran
with is recorded.

    python bench/seeds_demo.py --video CLIP --detector fall.pt --hrnet w48.pth --lifter stc27.pth \
        --out DIR --json seeds.json [--frames N] [--det-size 640] [--det-conf 0.3]

Writes ``--json``: seconds per stage, frames, thread counts, model load time.
"""
from __future__ import annotations

import time

T_START = time.perf_counter()  # before the imports: their cost is part of the demo's start-up

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402,F401  (puts the repo on sys.path)

import torch  # noqa: E402
from ultralytics import YOLO  # noqa: E402  (imported as the seeds import their detector: at start)

from core.joints import H36M_BONES, H36M_LEFT, H36M_RIGHT  # noqa: E402
from demo.render.display_frame import camera_to_world  # noqa: E402
from demo.pose2d.hrnet import load_hrnet  # noqa: E402
from core.coco_to_h36m import coco_to_h36m  # noqa: E402
from demo.pose2d.topdown import SEED_NORMALIZATION, box_to_center_scale, crop_person, decode_heatmaps  # noqa: E402
from lifter.checkpoints import load_lifter  # noqa: E402
from lifter.inference import normalize_screen  # noqa: E402

LEFT_RIGHT = list(H36M_LEFT) + list(H36M_RIGHT)
RIGHT_LEFT = list(H36M_RIGHT) + list(H36M_LEFT)
LEFT_JOINTS = set(H36M_LEFT)


class Clock:
    """Seconds per stage, and the torch thread counts each model was called with."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.threads: dict[str, set[int]] = defaultdict(set)
        self._start = 0.0

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] += now - self._start
        self._start = now

    def saw(self, model: str) -> None:
        self.threads[model].add(torch.get_num_threads())


# --- stage 1: 2D --------------------------------------------------------------------------


def detect_one(detector: YOLO, frame: np.ndarray, size: int, conf: float) -> np.ndarray | None:
    """The highest-confidence person box ``(4,)`` xyxy, or None."""
    result = detector.predict(frame, imgsz=size, conf=conf, device="cpu", verbose=False)[0]
    if result.boxes is None or len(result.boxes) == 0:
        return None
    best = int(result.boxes.conf.argmax())
    return result.boxes.xyxy[best].cpu().numpy()


def hrnet_one(
    model: torch.nn.Module, input_size: tuple[int, int], frame: np.ndarray, box: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """COCO keypoints ``(17, 2)`` and scores ``(17,)`` of one person, one crop per call."""
    h, w = frame.shape[:2]
    # Their conversion is called with the image's height / width as the aspect ratio.
    center, scale = box_to_center_scale(box[None], input_size, aspect_ratio=h / w)
    crop = crop_person(frame, center[0], scale[0], input_size)
    x = crop.astype(np.float32) / 255.0
    x = (x - np.array(SEED_NORMALIZATION.mean[::-1], np.float32)) / np.array(SEED_NORMALIZATION.std[::-1], np.float32)
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
    x = x[:, [2, 1, 0]]  # BGR normalised with RGB statistics, then channels reversed, as theirs
    with torch.no_grad():
        heatmaps = model(x)
    keypoints, scores = decode_heatmaps(heatmaps.detach().numpy(), center, scale)
    return keypoints[0], scores[0]


# --- stage 3: lifting and figures ---------------------------------------------------------


def lift_frame(model: torch.nn.Module, track: np.ndarray, i: int, width: int, height: int) -> np.ndarray:
    """``(17, 3)`` camera-space pose of frame ``i``: one window, two batch-1 calls (flip test)."""
    frames = model.num_frames
    pad = (frames - 1) // 2
    last = len(track) - 1
    window = track[max(0, i - pad) : min(i + pad, last) + 1]
    window = np.pad(window, ((max(0, pad - i), max(0, i + pad - last)), (0, 0), (0, 0)), mode="edge")
    x = normalize_screen(window, width, height)
    x_flip = x.copy()
    x_flip[:, :, 0] *= -1
    x_flip[:, LEFT_RIGHT] = x_flip[:, RIGHT_LEFT]
    out = model(torch.from_numpy(x)[None])
    out_flip = model(torch.from_numpy(x_flip)[None])
    out_flip[:, :, :, 0] *= -1
    out_flip[:, :, LEFT_RIGHT, :] = out_flip[:, :, RIGHT_LEFT, :]
    pose = (out + out_flip) / 2
    pose[:, :, 0, :] = 0
    centre = pad if pose.shape[1] == frames else 0
    return pose[0, centre].detach().cpu().numpy()


def draw_2d(keypoints: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The skeleton drawn on the image with OpenCV: blue left limbs, red right, green joints."""
    for a, b in H36M_BONES:
        start = tuple(int(v) for v in keypoints[a])
        end = tuple(int(v) for v in keypoints[b])
        left = a in LEFT_JOINTS or b in LEFT_JOINTS
        cv2.line(image, start, end, (255, 0, 0) if left else (0, 0, 255), 3)
        cv2.circle(image, start, 3, (0, 255, 0), -1)
        cv2.circle(image, end, 3, (0, 255, 0), -1)
    return image


def figure_3d(pose: np.ndarray, path: Path) -> None:
    """A new matplotlib 3D figure of one pose, saved as PNG at dpi 200."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(9.6, 5.4))
    ax = fig.add_subplot(projection="3d")
    ax.view_init(elev=15.0, azim=70)
    for a, b in H36M_BONES:
        left = a in LEFT_JOINTS or b in LEFT_JOINTS
        ax.plot(*(pose[[a, b], k] for k in range(3)), lw=2, color=(0, 0, 1) if left else (1, 0, 0))
    radius, root = 0.72, pose[0]
    ax.set_xlim3d([root[0] - radius, root[0] + radius])
    ax.set_ylim3d([root[1] - radius, root[1] + radius])
    ax.set_zlim3d([root[2] - 0.7, root[2] + 0.7])
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((1.0, 1.0, 1.0, 0.0))
    ax.tick_params("x", labelbottom=False)
    ax.tick_params("y", labelleft=False)
    ax.tick_params("z", labelleft=False)
    fig.savefig(path, dpi=200, format="png", bbox_inches="tight")
    plt.close(fig)  # (kept open by some of the seeds' versions; closing only helps them)


# --- stage 4: composite -------------------------------------------------------------------


def composite(path_2d: Path, path_3d: Path, path: Path) -> None:
    """Both PNGs read back, cropped, side by side in a new figure saved as a third PNG."""
    import matplotlib.pyplot as plt

    image_2d = plt.imread(path_2d)
    image_3d = plt.imread(path_3d)
    edge = (image_2d.shape[1] - image_2d.shape[0]) // 2
    image_2d = image_2d[:, edge : image_2d.shape[1] - edge]
    edge = 130
    image_3d = image_3d[edge : image_3d.shape[0] - edge, edge : image_3d.shape[1] - edge]
    fig = plt.figure(figsize=(15.0, 5.4))
    for position, image, title in ((121, image_2d, "Input"), (122, image_3d, "Reconstruction")):
        ax = fig.add_subplot(position)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_axis_off()
        ax.imshow(image)
        ax.set_title(title, fontsize=12)
    fig.subplots_adjust(top=1, bottom=0, right=1, left=0, hspace=0, wspace=0)
    fig.savefig(path, dpi=200, bbox_inches="tight")
    plt.close(fig)


# --- the demo -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    clock = Clock()
    out = args.out
    for sub in ("pose2D", "pose3D", "pose"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    threads_at_start = torch.get_num_threads()
    import_seconds = time.perf_counter() - T_START

    t0 = time.perf_counter()
    detector = YOLO(str(args.detector))
    hrnet, hrnet_config = load_hrnet(args.hrnet)
    lifter = load_lifter(args.lifter, frames=args.lift_frames)
    load_seconds = time.perf_counter() - t0

    # Stage 1: 2D, one frame at a time.
    capture = cv2.VideoCapture(str(args.video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    coco, coco_scores, frames_read = [], [], 0
    previous = (np.zeros((17, 2), np.float32), np.zeros(17, np.float32))
    missed = 0
    clock.start()
    while args.frames is None or frames_read < args.frames:
        ok, frame = capture.read()
        if not ok:
            break
        frames_read += 1
        clock.stop("decode")
        box = detect_one(detector, frame, args.det_size, args.det_conf)
        clock.saw("detector")
        clock.stop("detect")
        if box is None:
            missed += 1
            kp, sc = previous
        else:
            clock.saw("hrnet")
            kp, sc = hrnet_one(hrnet, hrnet_config.input_size, frame, box)
            previous = (kp, sc)
        coco.append(kp)
        coco_scores.append(sc)
        clock.stop("pose2d")
    capture.release()
    height, width = frame.shape[:2]

    # Stage 2: Human3.6M joints.
    track, _ = coco_to_h36m(np.stack(coco), np.stack(coco_scores))
    track = track.astype(np.float32)
    clock.stop("convert")

    # Stage 3: lifting and the per-frame figures (frames decoded again, as theirs).
    capture = cv2.VideoCapture(str(args.video))
    for i in range(len(track)):
        ok, image = capture.read()
        clock.stop("decode")
        clock.saw("lifter")
        pose = lift_frame(lifter, track, i, width, height)
        clock.stop("lift")
        world = camera_to_world(pose)
        world[:, 2] -= world[:, 2].min()
        cv2.imwrite(str(out / "pose2D" / f"{i:04d}_2D.png"), draw_2d(track[i], copy.deepcopy(image)))
        figure_3d(world, out / "pose3D" / f"{i:04d}_3D.png")
        clock.stop("figures")
    capture.release()

    # Stage 4: composites.
    for i in range(len(track)):
        composite(out / "pose2D" / f"{i:04d}_2D.png", out / "pose3D" / f"{i:04d}_3D.png", out / "pose" / f"{i:04d}_pose.png")
    clock.stop("composite")

    # Stage 5: the video.
    names = sorted((out / "pose").glob("*.png"))
    first = cv2.imread(str(names[0]))
    writer = cv2.VideoWriter(str(out / "seeds_demo.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), int(fps) + 5,
                             (first.shape[1], first.shape[0]))  # fmt: skip
    for name in names:
        writer.write(cv2.imread(str(name)))
    writer.release()
    clock.stop("video")

    png_bytes = sum(p.stat().st_size for p in out.rglob("*.png"))
    total = sum(clock.seconds.values())
    return {
        "frames": len(track),
        "frames_without_person": missed,
        "size": [width, height],
        "import_seconds": import_seconds,
        "load_seconds": load_seconds,
        "seconds": dict(clock.seconds),
        "total_seconds": total,
        "frames_per_second": len(track) / total,
        "threads": {k: sorted(v) for k, v in clock.threads.items()},
        "threads_at_start": threads_at_start,
        "png_mb_per_frame": png_bytes / 1e6 / len(track),
        "models": {"detector": str(args.detector), "hrnet": hrnet_config.name,
                   "lifter": f"{type(lifter).__name__}-{lifter.num_frames}"},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--detector", type=Path, required=True, help="Ultralytics YOLO .pt (every class is a person)")
    parser.add_argument("--hrnet", type=Path, required=True, help="HRNet checkpoint (official layout)")
    parser.add_argument("--lifter", type=Path, required=True, help="STCFormer / PoseFormerV2 checkpoint")
    parser.add_argument("--lift-frames", type=int, default=None, help="window of a lifter file the registry does not name")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs and the video")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=None, help="first N frames only")
    parser.add_argument("--det-size", type=int, default=640)
    parser.add_argument("--det-conf", type=float, default=0.3, help="the seeds' detector threshold")
    args = parser.parse_args(argv)
    result = run(args)
    args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
