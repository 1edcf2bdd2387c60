"""A 2D keypoint checkpoint of either family, loaded from its file alone.

``--pose2d`` takes a registered name or a file; the family (HRNet or RTMPose), the
architecture and the crop size are read from the file's keys and shapes, as the lifter's
loader does (:func:`load_pose2d`). Anything else (a lifter, a detector, a whole-body or
hand model, a truncated file) is one line naming the file and what it looks like.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.checkpoint_io import read_checkpoint, unwrap_state_dict
from core.errors import CheckpointError
from lifter.checkpoints import lifter_family

from .hrnet import load_hrnet
from .rtmpose import load_rtmpose
from .topdown import KeypointConfig, KeypointModel

FAMILIES = ("hrnet", "rtmpose")


def pose2d_family(state_dict: dict[str, torch.Tensor]) -> str | None:
    """``rtmpose`` (an RTMCC head), ``hrnet`` (HRNet branches, either layout) or None."""
    if any(k.startswith(("head.cls_x.", "head.gau.")) for k in state_dict):
        return "rtmpose"
    if any(k.startswith(("transition1.", "backbone.transition1.", "stage2.0.branches.", "backbone.stage2.0."))
           for k in state_dict):  # fmt: skip
        return "hrnet"
    return None


def _read(path: Path) -> Any:
    try:
        return read_checkpoint(path)
    except CheckpointError as e:
        if "ultralytics" in str(e):
            raise CheckpointError(
                f"checkpoint {path} is an Ultralytics YOLO model, not a 2D keypoint model: pass it with --detector"
            ) from None
        raise


def load_pose2d(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    input_size: tuple[int, int] | None = None,
) -> tuple[KeypointModel, KeypointConfig]:
    """A ready 2D keypoint model (eval mode, on ``device``) and its config.

    Args:
        path: an HRNet checkpoint (official raw state_dict or MMPose's layout) or an
            MMPose RTMPose checkpoint (``{'meta', 'state_dict'}``).
        input_size: HRNet only, crop ``(w, h)`` when the width has no official size
            (RTMPose's is read from its head).

    Raises:
        CheckpointError: missing, unreadable or truncated file, or a checkpoint of
            neither family (the message says what it looks like).
    """
    path = Path(path)
    checkpoint = _read(path)
    state_dict = unwrap_state_dict(checkpoint, path)
    family = pose2d_family(state_dict)
    if family == "rtmpose":
        return load_rtmpose(path, device=device, checkpoint=checkpoint)
    if family == "hrnet":
        return load_hrnet(path, device=device, input_size=input_size, checkpoint=checkpoint)
    lifter = lifter_family(state_dict)
    if lifter is not None:
        name = {"stcformer": "STCFormer", "poseformerv2": "PoseFormerV2"}[lifter]
        raise CheckpointError(f"checkpoint {path} is a 3D lifter checkpoint ({name}), not a 2D keypoint model: "
                              "pass it with --checkpoint")  # fmt: skip
    raise CheckpointError(f"checkpoint {path} is neither an HRNet nor an RTMPose 2D keypoint checkpoint "
                          f"(first keys: {', '.join(list(state_dict)[:3])})")  # fmt: skip
