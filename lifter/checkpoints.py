"""Turning lifter checkpoints into ready models (files are read by :mod:`core.checkpoint_io`).

One entry point, :func:`load_lifter`, takes a registry name or a path and returns a
model in eval mode. It accepts the official files unchanged (STCFormer's raw
state_dict, PoseFormerV2's ``{'model_pos': {'module.…'}}``, plain state_dicts),
infers the architecture from the tensors, and fails with one clear line that names
the file and what it looks like instead.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.checkpoint_io import check_state_dict, read_checkpoint, unwrap_state_dict
from core.errors import CheckpointError
from core.weights import resolve_weights

from .registry import (
    FAMILIES,
    LifterConfig,
    LifterEntry,
    LifterModel,
    build_lifter,
    config_to_dict,
    lifter_entries,
)

log = logging.getLogger(__name__)

# Tell-tale keys of checkpoints people pass by mistake, with what to say about them.
_FOREIGN_KINDS = (
    (re.compile(r"^(backbone\.)?stage4\.|^(head\.)?final_layer\."), "an HRNet 2D keypoint checkpoint, not a lifter"),
    (re.compile(r"^model\.\d+\.(conv|cv\d)"), "a YOLO detector checkpoint, not a lifter"),
)


#: Keys only each lifter family's checkpoints have.
LIFTER_TELL_TALE_KEYS = {
    "stcformer": ("pose_emb.weight", "regress_head.weight"),
    "poseformerv2": ("Freq_embedding.weight", "Joint_embedding.weight"),
}


def lifter_family(state_dict: dict[str, torch.Tensor]) -> str | None:
    """``'stcformer'`` or ``'poseformerv2'`` if the tensors are a lifter's, else None."""
    for family, keys in LIFTER_TELL_TALE_KEYS.items():
        if all(k in state_dict for k in keys):
            return family
    return None


def identify_family(state_dict: dict[str, torch.Tensor], path: str | Path) -> str:
    """``'stcformer'`` or ``'poseformerv2'`` from tell-tale keys; a clear error for anything else."""
    family = lifter_family(state_dict)
    if family is not None:
        return family
    keys = list(state_dict)
    for pattern, what in _FOREIGN_KINDS:
        if any(pattern.search(k) for k in keys):
            raise CheckpointError(f"checkpoint {path} is {what}")
    raise CheckpointError(
        f"checkpoint {path} is not an STCFormer or PoseFormerV2 checkpoint (first keys: {', '.join(keys[:3])})"
    )


def _count_blocks(state_dict: dict[str, torch.Tensor], prefix: str) -> int:
    found = {int(m.group(1)) for k in state_dict if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else 0


def _shape(state_dict: dict[str, torch.Tensor], key: str, path: str | Path) -> tuple[int, ...]:
    if key not in state_dict:
        raise CheckpointError(f"checkpoint {path} lacks '{key}', which its architecture needs")
    return tuple(state_dict[key].shape)


def infer_architecture(family: str, state_dict: dict[str, torch.Tensor], path: str | Path) -> dict[str, Any]:
    """Every config field the tensors determine (all but the window length, and
    PoseFormerV2's head count, which no tensor shape reveals)."""
    sd = state_dict
    if family == "stcformer":
        d_hid = _shape(sd, "pose_emb.weight", path)[0]
        head_dim = _shape(sd, "stcformer.stc_block.0.stc_att.emb.weight", path)[1]
        return {
            "layers": _count_blocks(sd, "stcformer.stc_block."),
            "d_hid": d_hid,
            "heads": max(1, d_hid // 2 // head_dim),
        }
    ratio = _shape(sd, "Joint_embedding.weight", path)[0]
    return {
        "frames_kept": _shape(sd, "Temporal_pos_embed", path)[1],
        "coeffs_kept": _shape(sd, "Temporal_pos_embed_", path)[1],
        "embed_dim_ratio": ratio,
        "depth": _count_blocks(sd, "Spatial_blocks."),
        "mlp_ratio": _shape(sd, "Spatial_blocks.0.mlp.fc1.weight", path)[0] / ratio,
        "qkv_bias": "Spatial_blocks.0.attn.qkv.bias" in sd,
        "joints": _shape(sd, "Spatial_pos_embed", path)[1],
    }


def describe(family: str, arch: dict[str, Any], frames: int | None = None) -> str:
    """Short description such as ``a PoseFormerV2 checkpoint (9/9 frames_kept/coeffs_kept)``."""
    if family == "stcformer":
        text = f"an STCFormer checkpoint ({arch['layers']} layers x {arch['d_hid']})"
    else:
        text = f"a PoseFormerV2 checkpoint ({arch['frames_kept']}/{arch['coeffs_kept']} frames_kept/coeffs_kept)"
    if frames is not None:
        text += f", {frames}-frame window"
    official = sorted({e.name for e in lifter_entries().values() if e.family == family and _arch_equal(e, arch)})
    if official:
        text += f" [layout of {' / '.join(official)}]"
    return text


def _arch_equal(entry: LifterEntry, arch: dict[str, Any]) -> bool:
    have = config_to_dict(entry.config)
    return all(have.get(k) == v for k, v in arch.items())


@dataclass(frozen=True)
class CheckpointInfo:
    """What a lifter checkpoint file is.

    Attributes:
        path: the file.
        family: ``stcformer`` or ``poseformerv2``.
        architecture: config fields inferred from the tensors.
        entry: the registry entry it was named by or whose file name it has, if any.
        state_dict: its tensors, prefix stripped.
    """

    path: Path
    family: str
    architecture: dict[str, Any]
    entry: LifterEntry | None
    state_dict: dict[str, torch.Tensor]

    @property
    def num_parameters(self) -> int:
        return sum(t.numel() for t in self.state_dict.values() if t.is_floating_point())

    def official_matches(self) -> list[LifterEntry]:
        """Registry entries with this architecture (window lengths may differ)."""
        return [e for e in lifter_entries().values() if e.family == self.family and _arch_equal(e, self.architecture)]


def inspect_checkpoint(name_or_path: str | Path) -> CheckpointInfo:
    """Read a lifter checkpoint and say what it is, without building a model."""
    path, entry = resolve_weights(name_or_path, lifter_entries(), "lifter")
    state_dict = unwrap_state_dict(read_checkpoint(path), path)
    family = identify_family(state_dict, path)
    arch = infer_architecture(family, state_dict, path)
    return CheckpointInfo(path, family, arch, entry, state_dict)


def _choose_config(info: CheckpointInfo, frames: int | None, named: bool, heads: int | None) -> LifterConfig:
    """Combine the inferred architecture with the window length from the registry or the caller."""
    path, family, arch, entry = info.path, info.family, info.architecture, info.entry
    what = describe(family, arch)
    if entry is not None and (entry.family != family or not _arch_equal(entry, arch)):
        if named:
            raise CheckpointError(
                f"checkpoint {path} is {what}, but '{entry.name}' was asked for, which expects "
                f"{describe(entry.family, _entry_arch(entry))} with {entry.config.frames} frames"
            )
        entry = None  # the file name merely coincides with an official one
    if entry is not None and frames is not None and frames != entry.config.frames:
        raise CheckpointError(
            f"checkpoint {path} is '{entry.name}' ({what}, trained on {entry.config.frames} frames), "
            f"but {frames} frames were asked for"
        )
    if frames is None:
        if entry is None:
            official = sorted({e.config.frames for e in info.official_matches()})
            hint = f" (the official files with this layout use {' or '.join(map(str, official))})" if official else ""
            raise CheckpointError(
                f"checkpoint {path} is {what}, but the file does not store its window length: "
                f"pass frames=N (--frames N){hint} or a registry name"
            )
        frames = entry.config.frames
    if entry is None and family == "poseformerv2":
        trained = sorted({e.config.frames for e in info.official_matches()})
        if trained and frames not in trained:
            log.warning("%s has the layout of an official %s-frame model but is run on %d frames", path, trained, frames)
    fields_ = dict(arch, frames=frames)
    if family == "poseformerv2":
        # No tensor shape reveals the head count; every official variant uses 8.
        fields_["heads"] = heads if heads is not None else (entry.config.heads if entry else 8)
    elif heads is not None and heads != arch["heads"]:
        raise CheckpointError(f"checkpoint {path} has {arch['heads']} heads per half, not {heads}")
    try:
        return FAMILIES[family][1](**fields_)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None


def _entry_arch(entry: LifterEntry) -> dict[str, Any]:
    d = config_to_dict(entry.config)
    d.pop("frames")
    return d


def load_lifter(
    checkpoint: str | Path,
    *,
    frames: int | None = None,
    heads: int | None = None,
    device: str | torch.device = "cpu",
) -> LifterModel:
    """A ready lifter (eval mode, on ``device``) from a registry name or a checkpoint file.

    Args:
        checkpoint: a registry name (``stcformer-27``) or a path to an official or plain file.
        frames: window length; needed only when neither the name nor the file name
            identifies an official entry, since no checkpoint stores it.
        heads: PoseFormerV2's head count (not visible in the tensors; default 8 as in
            every official variant).
        device: where the model will run.

    Raises:
        CheckpointError: missing, unreadable, foreign or mis-shaped file, or conflicting options.
    """
    named = str(checkpoint) in lifter_entries() and not Path(str(checkpoint)).is_file()
    info = inspect_checkpoint(checkpoint)
    config = _choose_config(info, frames, named, heads)
    model = build_lifter(config)
    check_state_dict(model, info.state_dict, info.path, describe(info.family, config_to_dict(config), config.frames))
    model.load_state_dict(info.state_dict, strict=True)
    log.info("loaded %s from %s", describe(info.family, info.architecture, config.frames), info.path)
    return model.to(device).eval()
