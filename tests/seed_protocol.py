"""The seeds' per-frame lifting loop: the reference that :func:`lifter.inference.lift_tracks`
is tested against, and the baseline ``bench/bench_lift.py`` times. Not used by the application.

This is how the STCFormer / PoseFormerV2 / MHFormer demos lift a clip: for every frame,
slice a window around it, edge-pad it with ``np.pad``, normalise, run the model once
on the window and once on its mirror image (batch 1 each), average, zero the root and
keep the centre frame. Written from the seeds' code, independently of ``lifter.inference``.
"""
from __future__ import annotations

import numpy as np
import torch

from core.joints import H36M_LEFT, H36M_RIGHT


def lift_track_per_frame(
    track: np.ndarray, width: int, height: int, model: torch.nn.Module, grad: bool = False, only: int | None = None
) -> np.ndarray:
    """``(T, 17, 2)`` pixels (no NaN) -> ``(T, 17, 3)``, one window per model call.

    Args:
        grad: run with autograd recording, as the seeds do (they never disable it).
        only: lift just the first ``only`` frames (their windows still come from the
            whole track); the other rows stay 0. Lets a benchmark time a subset.
    """
    frames = model.num_frames
    pad = (frames - 1) // 2
    length = len(track)
    device = next(model.parameters()).device
    lr = list(H36M_LEFT) + list(H36M_RIGHT)
    rl = list(H36M_RIGHT) + list(H36M_LEFT)
    out = np.zeros((length, 17, 3), dtype=np.float32)
    with torch.set_grad_enabled(grad):
        for i in range(length if only is None else min(only, length)):
            window = track[max(0, i - pad) : min(i + pad, length - 1) + 1]
            left = max(0, pad - i)
            right = max(0, i + pad - (length - 1))
            window = np.pad(window, ((left, right), (0, 0), (0, 0)), mode="edge")
            # The seeds' normalize_screen: X / w * 2 - [1, h / w].
            x = (window / width * 2 - np.array([1, height / width])).astype(np.float32)
            x_flip = x.copy()
            x_flip[:, :, 0] *= -1
            x_flip[:, lr] = x_flip[:, rl]
            pred = model(torch.from_numpy(x)[None].to(device))
            pred_flip = model(torch.from_numpy(x_flip)[None].to(device))
            pred_flip[:, :, :, 0] *= -1
            pred_flip[:, :, lr, :] = pred_flip[:, :, rl, :]
            both = (pred + pred_flip) / 2
            both[:, :, 0, :] = 0
            centre = pad if both.shape[1] == frames else 0  # STCFormer returns every frame
            out[i] = both[0, centre].detach().cpu().numpy()
    return out
