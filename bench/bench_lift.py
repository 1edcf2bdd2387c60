"""Lifting speed: the seeds' per-frame loop against our batched whole-clip lifting.

Full-size random-weight models (stcformer-27, stcformer-81, poseformerv2-243-27-27) lift
the same random 600-frame track both ways in one run. The seeds' way is one window per
call, batch 1, a separate call for the flipped window, autograd left on (as their demos
do); a second row runs that loop under inference_mode, to separate what batching gains
from what merely disabling autograd gains. Ours is :func:`lifter.inference.lift_track`:
centre-frame mode (same numbers as the seeds, checked here) and STCFormer's seq2seq mode.

    python bench/bench_lift.py [--frames 600] [--naive-frames 200] [--device auto]

The per-frame loop's cost is the same for every frame, so it is timed on the first
``--naive-frames`` frames (their windows come from the whole track) and reported as frames/s.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lifter.device import pick_device  # noqa: E402
from lifter.inference import LiftOptions, lift_track  # noqa: E402
from lifter.registry import create_lifter  # noqa: E402
from lifter.seed_protocol import lift_track_per_frame  # noqa: E402

WIDTH, HEIGHT = 1280, 720


def random_track(length: int, seed: int = 0) -> np.ndarray:
    """A smooth random walk of 17 joints in pixels, ``(length, 17, 2)``."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([400, 150], [880, 570], size=(1, 17, 2))
    return (base + np.cumsum(rng.normal(0, 1.5, size=(length, 17, 2)), axis=0)).astype(np.float32)


def timed(fn, device: torch.device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--naive-frames", type=int, default=200, help="frames the per-frame loop is timed on")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="+", default=["stcformer-27", "stcformer-81", "poseformerv2-243-27-27"])
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.manual_seed(0)
    track = random_track(args.frames)
    n_naive = min(args.naive_frames, args.frames)
    print(f"device: {device} ({torch.get_num_threads()} CPU threads), track: {args.frames} frames, "
          f"per-frame loop timed on {n_naive} frames")  # fmt: skip
    header = f"{'model':<24} {'method':<40} {'frames/s':>9} {'vs seeds':>9} {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    for name in args.models:
        model = create_lifter(name).to(device)
        lift_track(track[:8], WIDTH, HEIGHT, model)  # warm-up: allocator, kernels
        t_seed, seeds = timed(lambda: lift_track_per_frame(track, WIDTH, HEIGHT, model, grad=True, only=n_naive), device)
        seed_fps = n_naive / t_seed
        rows = [("seeds: per frame, batch 1, autograd on", seed_fps, None)]
        t, _ = timed(lambda: lift_track_per_frame(track, WIDTH, HEIGHT, model, grad=False, only=n_naive), device)
        rows.append(("seeds' loop under inference_mode", n_naive / t, None))
        t, ours = timed(lambda: lift_track(track, WIDTH, HEIGHT, model), device)
        diff = float(np.abs(ours.camera[:n_naive] - seeds[:n_naive]).max())
        rows.append(("ours: centre frame (identical output)", args.frames / t, diff))
        if model.seq2seq:
            for overlap, flip in ((model.num_frames // 3, True), (0, True), (0, False)):
                opts = LiftOptions(mode="seq2seq", overlap=overlap, flip=flip)
                t, _ = timed(lambda: lift_track(track, WIDTH, HEIGHT, model, opts), device)
                rows.append((f"ours: seq2seq, overlap {overlap}{'' if flip else ', no flip'}", args.frames / t, None))
        for method, fps, d in rows:
            dtext = f"{d:.1e}" if d is not None else ""
            print(f"{name:<24} {method:<40} {fps:>9.1f} {fps / seed_fps:>8.1f}x {dtext:>11}")


if __name__ == "__main__":
    main()
