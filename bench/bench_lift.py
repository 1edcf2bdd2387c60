"""Lifting speed: the seeds' per-frame loop against our batched lifting, and reduced precision.

Full-size random-weight models (stcformer-27, stcformer-81, poseformerv2-243-27-27) lift
the same random 600-frame track both ways in one run. The seeds' way
(``tests/seed_protocol.py``) is one window per call, batch 1, a separate call for the
flipped window, autograd left on (as their demos do); a second row runs that loop under
inference_mode, to separate what batching gains from what merely disabling autograd
gains. Ours is :func:`lifter.inference.lift_tracks`: centre-frame mode (same numbers as
the seeds, checked here) and STCFormer's seq2seq mode.

With ``--precision bf16`` (or ``fp16`` on CUDA) our rows run under that autocast, and
each is compared with the same method in fp32: speed ratio and the max / mean absolute
deviation, in mm if the lifter's units are metres (the official checkpoints'; with
random weights the poses are not human, so this is the size of the rounding noise
relative to outputs of about unit scale).

    python bench/bench_lift.py [--frames 600] [--naive-frames 200] [--device auto] [--precision fp32]

The per-frame loop's cost is the same for every frame, so it is timed on the first
``--naive-frames`` frames (their windows come from the whole track; 0 skips it) and
reported as frames/s.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.runtime import PRECISIONS, pick_device, resolve_precision  # noqa: E402
from lifter.inference import LiftOptions, lift_tracks  # noqa: E402
from lifter.registry import create_lifter  # noqa: E402
from tests.seed_protocol import lift_track_per_frame  # noqa: E402

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
    parser.add_argument("--naive-frames", type=int, default=200, help="frames the per-frame loop is timed on (0: skip it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="our rows' precision; not fp32: also compared with fp32 (speed, deviation)")
    parser.add_argument("--models", nargs="+", default=["stcformer-27", "stcformer-81", "poseformerv2-243-27-27"])
    args = parser.parse_args()
    device = pick_device(args.device)
    precision = resolve_precision(args.precision, device)
    torch.manual_seed(0)
    track = random_track(args.frames)
    n_naive = min(args.naive_frames, args.frames)
    print(f"device: {device} ({torch.get_num_threads()} CPU threads), track: {args.frames} frames, "
          f"per-frame loop timed on {n_naive} frames, ours in {precision}")  # fmt: skip
    header = f"{'model':<24} {'method':<40} {'frames/s':>9} {'vs seeds':>9} {'max |diff|':>11}"
    if precision != "fp32":
        header += f" {'vs fp32':>8} {'max mm':>8} {'mean mm':>8}"
    print(header)
    print("-" * len(header))

    def lift(model, opts: LiftOptions) -> np.ndarray:
        return lift_tracks([track], WIDTH, HEIGHT, model, opts)[0].camera

    for name in args.models:
        model = create_lifter(name).to(device)
        base = LiftOptions(precision=precision)  # type: ignore[arg-type]
        lift_tracks([track[:8]], WIDTH, HEIGHT, model, base)  # warm-up: allocator, kernels
        rows: list[tuple[str, float, float | None, tuple[float, float, float] | None]] = []
        seeds = None
        if n_naive:
            t, seeds = timed(lambda: lift_track_per_frame(track, WIDTH, HEIGHT, model, grad=True, only=n_naive), device)
            rows.append(("seeds: per frame, batch 1, autograd on", n_naive / t, None, None))
            t, _ = timed(lambda: lift_track_per_frame(track, WIDTH, HEIGHT, model, grad=False, only=n_naive), device)
            rows.append(("seeds' loop under inference_mode", n_naive / t, None, None))
        methods = [("ours: centre frame", base)]
        if model.seq2seq:
            for overlap, flip in ((model.num_frames // 3, True), (0, True), (0, False)):
                opts = replace(base, mode="seq2seq", overlap=overlap, flip=flip)
                methods.append((f"ours: seq2seq, overlap {overlap}{'' if flip else ', no flip'}", opts))
        for method, opts in methods:
            t, ours = timed(lambda: lift(model, opts), device)
            diff = float(np.abs(ours[:n_naive] - seeds[:n_naive]).max()) if seeds is not None and opts.mode == "centre" else None
            versus = None
            if precision != "fp32":
                t32, ref = timed(lambda: lift(model, replace(opts, precision="fp32")), device)
                err = np.abs(ours - ref) * 1000
                versus = (t32 / t, float(err.max()), float(err.mean()))
            rows.append((method, args.frames / t, diff, versus))
        seed_fps = rows[0][1] if n_naive else None
        for method, fps, d, versus in rows:
            ratio = f"{fps / seed_fps:>8.1f}x" if seed_fps else f"{'':>9}"
            line = f"{name:<24} {method:<40} {fps:>9.1f} {ratio} {f'{d:.1e}' if d is not None else '':>11}"
            if versus is not None:
                line += f" {versus[0]:>7.2f}x {versus[1]:>8.2f} {versus[2]:>8.3f}"
            print(line)


if __name__ == "__main__":
    main()
