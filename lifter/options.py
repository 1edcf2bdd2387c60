"""The lifting options of both command lines (the app's and ``python -m lifter lift``),
defined once. ``--precision`` and ``--device`` are not here: each command line adds its own
(in the app they cover every model) and passes the resolved precision in."""
from __future__ import annotations

import argparse

from .inference import MODES, LiftOptions


def add_lift_arguments(
    group: argparse.ArgumentParser | argparse._ArgumentGroup, mode_default: str | None = "centre"
) -> None:
    """Add ``--lift-mode``, ``--overlap``, ``--no-flip`` and ``--batch-size`` to a parser or
    group; ``mode_default`` None leaves ``--lift-mode`` to the caller (the app's presets)."""
    group.add_argument("--lift-mode", choices=MODES, default=mode_default,
                       help="centre: the seeds' protocol, one window per frame; "
                            "seq2seq: STCFormer predicts whole windows, much faster"
                            + (" (default: the preset's)" if mode_default is None else ""))  # fmt: skip
    group.add_argument("--overlap", type=int, metavar="FRAMES",
                       help="seq2seq: frames shared by consecutive lifter windows (default a third of the window)")
    group.add_argument("--no-flip", action="store_true",
                       help="skip the lifter's flip test (about twice as fast, less accurate)")
    group.add_argument("--batch-size", type=int, metavar="N",
                       help="lifter sequences per forward pass, flipped copies included "
                            "(default: about 4096 tokens on CPU, 256 on CUDA)")  # fmt: skip


def lift_options_from_args(args: argparse.Namespace, precision: str, *, progress: bool = False) -> LiftOptions:
    """The :class:`LiftOptions` of parsed arguments (see :func:`add_lift_arguments`); bad
    values (a batch too small, an overlap too long for the window) are reported by
    :func:`lifter.inference.lift_tracks` as :class:`core.errors.LiftError`.

    Args:
        precision: ``fp32``, ``bf16`` or ``fp16``, already resolved
            (:func:`core.runtime.resolve_precision` turns ``auto`` into one of them).
        progress: show the lifter's progress bar.
    """
    return LiftOptions(
        mode=args.lift_mode,
        flip=not args.no_flip,
        batch_size=args.batch_size,
        overlap=args.overlap,
        precision=precision,  # type: ignore[arg-type]
        progress=progress,
    )
