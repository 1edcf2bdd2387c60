"""Model presets: ``--preset auto|fast|balanced|quality|seeds``, each a detector, a 2D
model, a lifter and a lifting mode. ``auto`` picks by device: a CUDA GPU gets
``quality``; a CPU gets ``fast``, which makes a 1-minute clip a matter of minutes rather
than the hour the seeds' sizes take there (README, "Speed"). An explicit ``--detector``,
``--pose2d``, ``--lifter``/``--checkpoint``, ``--lift-mode`` or ``--flip-test`` /
``--no-flip-test`` replaces its part only.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from core.errors import UserError

PRESET_NAMES: tuple[str, ...] = ("auto", "fast", "balanced", "quality", "seeds")


@dataclass(frozen=True)
class Preset:
    """One set of models.

    Attributes:
        name: the preset's name.
        detector: Ultralytics weights name.
        pose2d: 2D model registry name.
        lifter: lifter registry name.
        lift_mode: ``centre`` (the seeds' protocol) or ``seq2seq`` (STCFormer, whole windows).
        summary: one line for ``--help`` and the README.
        flip_test: RTMPose's flip test (MMPose's protocol, twice the 2D cost): on where a
            GPU makes it cheap (``quality``), off on the CPU presets (README, "2D models").
    """

    name: str
    detector: str
    pose2d: str
    lifter: str
    lift_mode: str
    summary: str
    flip_test: bool = False


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("fast", "yolo26n.pt", "rtmpose-m", "stcformer-27", "seq2seq",
               "the CPU default: the smallest YOLO26, RTMPose-m 256x192, STCFormer-27 whole windows"),
        Preset("balanced", "yolo26m.pt", "rtmpose-l", "stcformer-81", "seq2seq",
               "a mid-size YOLO26, RTMPose-l 256x192, STCFormer-81 whole windows"),
        Preset("quality", "yolo26l.pt", "rtmpose-l-384x288", "stcformer-81", "centre",
               "the GPU default: YOLO26-l, RTMPose-l 384x288 with the flip test, STCFormer-81 one window per frame",
               flip_test=True),
        Preset("seeds", "yolo26l.pt", "hrnet-w48-384x288", "stcformer-27", "centre",
               "the seeds' sizes: a large YOLO, HRNet-W48 384x288, STCFormer-27 one window per frame"),
    )
}  # fmt: skip


def resolve_preset(name: str, cuda: bool) -> tuple[Preset, str]:
    """The preset a run uses and why (for its first log lines).

    Raises:
        UserError: an unknown name, with the closest real one.
    """
    if name not in PRESET_NAMES:
        close = difflib.get_close_matches(name, PRESET_NAMES, n=1, cutoff=0.0)
        raise UserError(f"unknown preset '{name}' (did you mean {close[0]}?); presets: {', '.join(PRESET_NAMES)}")
    if name != "auto":
        return PRESETS[name], "asked for with --preset"
    if cuda:
        return PRESETS["quality"], "auto: a CUDA GPU is here"
    return PRESETS["fast"], "auto: no CUDA GPU, so the models sized for a CPU"
