"""``python -m lifter``: inspect lifter checkpoints and lift 2D keypoint files to 3D.

    python -m lifter list
    python -m lifter info CHECKPOINT [--frames N]
    python -m lifter lift KEYPOINTS.npz --checkpoint NAME_OR_PATH --size W H --out OUT.npz [--lift-mode seq2seq]
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.console import report_errors, setup_logging
from core.errors import LiftError
from core.files import atomic_output
from core.runtime import PRECISIONS, pick_device, resolve_precision
from core.weights import checkpoints_dir

from .checkpoints import describe, inspect_checkpoint, load_lifter
from .inference import MODES, lift_tracks
from .options import add_lift_arguments, lift_options_from_args
from .registry import lifter_entries

log = logging.getLogger("lifter")


def cmd_list(args: argparse.Namespace) -> int:
    print(f"{'name':<24} {'family':<13} {'frames':>6} {'MPJPE':>7}  {'file':<30} local")
    for entry in lifter_entries().values():
        here = "yes" if entry.path.is_file() else "no"
        print(f"{entry.name:<24} {entry.family:<13} {entry.config.frames:>6} {entry.mpjpe_mm:>5.1f}mm  {entry.file:<30} {here}")
    print(f"checkpoint folder: {checkpoints_dir()}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    info = inspect_checkpoint(args.checkpoint)
    arch = ", ".join(f"{k}={v}" for k, v in info.architecture.items())
    print(f"file:         {info.path}")
    print(f"family:       {info.family}")
    print(f"architecture: {arch}")
    matches = info.official_matches()
    if args.frames:
        window = f"{args.frames} frames (given)"
    elif info.entry is not None and info.entry in matches:
        window = f"{info.entry.config.frames} frames (registry entry {info.entry.name})"
    else:
        trained = sorted({e.config.frames for e in matches})
        hint = f"; official files with this layout use {' or '.join(map(str, trained))}" if trained else ""
        window = f"not stored in the file{hint}"
    print(f"window:       {window}")
    print(f"parameters:   {info.num_parameters:,}")
    if matches:
        for e in matches:
            print(f"official:     {e.name} (window {e.config.frames}, reported H36M MPJPE {e.mpjpe_mm} mm)")
    else:
        print("official:     no official checkpoint has this layout")
    if args.frames or (info.entry is not None and info.entry in matches):
        # Building the model proves the file loads strictly, not just that it looks right.
        model = load_lifter(args.checkpoint, frames=args.frames)
        print(f"loads:        yes, as {describe(info.family, info.architecture, model.num_frames)}")
    return 0


def _read_keypoints(path: Path) -> np.ndarray:
    """The seeds' ``keypoints.npz`` -> ``(P, T, 17, 2)`` pixels, NaN where a person is absent.

    ``reconstruction`` (or ``keypoints``) is ``(P, T, 17, 2)`` or ``(T, 17, 2)``. An optional
    boolean ``valid`` of shape ``(T,)`` or ``(P, T)`` (the 2D stage's export has one) marks
    the frames to lift; the others hold a copied pose and count as absences.
    """
    if not path.is_file():
        raise LiftError(f"keypoints file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            key = "reconstruction" if "reconstruction" in data.files else ("keypoints" if "keypoints" in data.files else None)
            if key is None:
                raise LiftError(
                    f"{path} has no 'reconstruction' array (the seeds' input_2D/keypoints.npz layout); "
                    f"found: {', '.join(data.files) or 'nothing'}"
                )
            kp = np.asarray(data[key], dtype=np.float32)
            valid = np.asarray(data["valid"], dtype=bool) if "valid" in data.files else None
    except (OSError, ValueError) as e:
        raise LiftError(f"{path} is not a readable .npz file ({e})") from None
    if kp.ndim == 3:
        kp = kp[None]
    if kp.ndim != 4 or kp.shape[2:] != (17, 2):
        raise LiftError(f"{path}: expected keypoints of shape (P, T, 17, 2) or (T, 17, 2), got {kp.shape}")
    if valid is not None:
        if valid.shape not in (kp.shape[1:2], kp.shape[:2]):
            raise LiftError(f"{path}: 'valid' must have shape (T,) or (P, T) = {kp.shape[:2]}, got {valid.shape}")
        kp[~np.broadcast_to(valid, kp.shape[:2])] = np.nan
    if not np.isfinite(kp).all(axis=-1).any():
        raise LiftError(f"{path} has no frame with any 2D keypoint to lift")
    return kp


def cmd_lift(args: argparse.Namespace) -> int:
    keypoints = _read_keypoints(Path(args.keypoints))
    width, height = args.size
    device = pick_device(args.device)
    options = lift_options_from_args(args, resolve_precision(args.precision, device), progress=not args.quiet)
    model = load_lifter(args.checkpoint, frames=args.frames, device=device)
    results = lift_tracks(list(keypoints), width, height, model, options)
    camera = np.stack([r.camera for r in results])
    filled = np.stack([r.filled for r in results])
    present = np.stack([r.present for r in results])
    out = Path(args.out)
    with atomic_output(out) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            camera=camera,
            filled=filled,
            present=present,
            width=width,
            height=height,
            checkpoint=str(args.checkpoint),
            mode=options.mode,
            flip=options.flip,
            precision=options.precision,
            window=model.num_frames,
        )
    log.info(
        "lifted %d person(s) x %d frames with %s (%s, %s) -> %s (camera: root-relative camera space "
        "in the lifter's units, NaN where the person is absent)",
        camera.shape[0], camera.shape[1], args.checkpoint, options.mode, options.precision, out,
    )  # fmt: skip
    if not present.all():
        log.info("%d frame(s) without any 2D joint were absences: each present run was lifted on its own (see 'present')",
                 int((~present).sum()))  # fmt: skip
    if filled.any():
        log.warning("%d frame(s) had missing 2D joints, interpolated in time (see 'filled')", int(filled.any(-1).sum()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lifter", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bar")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="the official checkpoints this tool knows, and which are downloaded")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="what a checkpoint file is (family, config, parameters, official match)")
    p.add_argument("checkpoint", help="registry name or path to a checkpoint file")
    p.add_argument("--frames", type=int, help="window length, if the file name does not identify it")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("lift", help="lift a 2D keypoint file (the seeds' keypoints.npz) to 3D")
    p.add_argument("keypoints", help="npz with 'reconstruction' of shape (P, T, 17, 2) or (T, 17, 2), pixels, H36M order; "
                                     "NaN joints are interpolated, all-NaN frames (or frames not in 'valid') are absences")
    p.add_argument("--checkpoint", required=True, help="registry name (see 'list') or checkpoint path")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), required=True, help="video frame size in pixels")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--frames", type=int, help="window length for a checkpoint the registry does not know")
    add_lift_arguments(p)
    p.add_argument("--mode", dest="lift_mode", choices=MODES, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto (default): fp16 on CUDA, bf16 on CPUs with native bf16, else fp32; "
                        "bf16 and fp16 are autocast over fp32 weights, fp16 needs CUDA")  # fmt: skip
    p.set_defaults(func=cmd_lift)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    return report_errors(lambda: args.func(args))
