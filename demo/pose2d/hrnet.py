"""HRNet top-down 2D keypoint network (Sun et al., "Deep High-Resolution Representation
Learning for Human Pose Estimation", CVPR 2019), the ``pose_hrnet`` of the official code.

A crop of one person, ``(B, 3, H, W)`` normalised RGB, becomes ``(B, J, H/4, W/4)``
heatmaps (J = 17 COCO keypoints). Parameter and buffer names equal the official
checkpoint's keys, so ``pose_hrnet_w48_384x288.pth`` loads unchanged; MMPose 1.x files
(``backbone.*`` + ``head.final_layer.*``) are renamed by :func:`hrnet_state_dict`.

Order of this file: building blocks -> the model and its config -> checkpoint adaptation
-> named variants -> :func:`load_hrnet`.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.checkpoint_io import build_with_weights, read_checkpoint, unwrap_state_dict
from core.errors import CheckpointError
from lifter.checkpoints import lifter_family

log = logging.getLogger(__name__)

STEM_CHANNELS = 64
BOTTLENECK_EXPANSION = 4
#: Spatial reduction of the heatmaps relative to the input crop.
HEATMAP_STRIDE = 4
#: Input sides must be multiples of this: the lowest-resolution branch is 1/32 of the input.
INPUT_MULTIPLE = 32


# --- building blocks ----------------------------------------------------------------------


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    """Conv -> BN (-> ReLU); the index layout (0 conv, 1 bn) is what checkpoint keys refer to."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection; channels unchanged."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 channels) with a residual, projected when channels change."""

    def __init__(self, in_channels: int, planes: int) -> None:
        super().__init__()
        out_channels = planes * BOTTLENECK_EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            _conv_bn(in_channels, out_channels, kernel=1, stride=1, relu=False) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, one per resolution, then every output branch
    sums all branches brought to its resolution (1x1 conv + nearest upsampling from
    lower resolutions, chains of strided 3x3 convs from higher ones).

    Args:
        channels: channels of each branch, highest resolution first; branch ``i`` has
            1/2^i the resolution of branch 0.
        blocks: BasicBlocks per branch.
        multi_scale_output: return every branch (False: only the highest resolution,
            as the last module of the last stage does).
    """

    def __init__(self, channels: tuple[int, ...], blocks: int, multi_scale_output: bool) -> None:
        super().__init__()
        self.num_branches = len(channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(blocks))) for c in channels
        )
        outputs = self.num_branches if multi_scale_output else 1
        # None where no transform is needed keeps the official indices (fuse_layers.i.j).
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fuse(channels, i, j) for j in range(self.num_branches)) for i in range(outputs)
        )
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fuse(channels: tuple[int, ...], i: int, j: int) -> nn.Module | None:
        """The path from branch ``j`` to output ``i``."""
        if j == i:
            return None
        if j > i:
            return nn.Sequential(
                nn.Conv2d(channels[j], channels[i], kernel_size=1, bias=False),
                nn.BatchNorm2d(channels[i]),
                nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
            )
        # i - j stride-2 steps; channels change only at the last one, which has no ReLU
        # because the sum is rectified afterwards.
        steps = [
            _conv_bn(channels[j], channels[j], kernel=3, stride=2, relu=True) for _ in range(i - j - 1)
        ]
        steps.append(_conv_bn(channels[j], channels[i], kernel=3, stride=2, relu=False))
        return nn.Sequential(*steps)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        fused = []
        for paths in self.fuse_layers:
            total = None
            for path, x in zip(paths, xs):
                y = x if path is None else path(x)
                total = y if total is None else total + y
            fused.append(self.relu(total))
        return fused


def _transition(previous: tuple[int, ...], current: tuple[int, ...]) -> nn.ModuleList:
    """Adapts a stage's branches to the next stage's: existing branches get a 3x3 conv only
    where channels differ; each new branch comes from the lowest-resolution one through
    stride-2 convs."""
    layers: list[nn.Module | None] = []
    for i, out_channels in enumerate(current):
        if i < len(previous):
            layers.append(
                None
                if previous[i] == out_channels
                else _conv_bn(previous[i], out_channels, kernel=3, stride=1, relu=True)
            )
            continue
        steps = []
        for k in range(i + 1 - len(previous)):
            last = k == i - len(previous)
            steps.append(_conv_bn(previous[-1], out_channels if last else previous[-1], kernel=3, stride=2, relu=True))
        layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HRNetConfig:
    """Architecture and crop size of a pose HRNet.

    Attributes:
        width: channels of the highest-resolution branch (32 or 48 officially); the stages
            have ``(w, 2w)``, ``(w, 2w, 4w)``, ``(w, 2w, 4w, 8w)``.
        input_size: crop size ``(width, height)`` in pixels the network was trained on;
            heatmaps are a quarter of it.
        num_joints: heatmaps produced (17 COCO keypoints).
        modules: HighResolutionModules in stages 2, 3 and 4.
        blocks: BasicBlocks per branch in every module (and Bottlenecks in layer1).
        final_conv_kernel: kernel of the heatmap head (1 officially, or 3).
    """

    width: int = 48
    input_size: tuple[int, int] = (288, 384)
    num_joints: int = 17
    modules: tuple[int, int, int] = (1, 4, 3)
    blocks: int = 4
    final_conv_kernel: int = 1

    def __post_init__(self) -> None:
        if self.width < 1 or self.num_joints < 1 or self.blocks < 1:
            raise ValueError(f"width, num_joints and blocks must be positive, got {self}")
        if len(self.modules) != 3 or min(self.modules) < 1:
            raise ValueError(f"modules must give three positive counts (stages 2-4), got {self.modules}")
        if self.final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel must be 1 or 3, got {self.final_conv_kernel}")
        w, h = self.input_size
        if w < INPUT_MULTIPLE or h < INPUT_MULTIPLE or w % INPUT_MULTIPLE or h % INPUT_MULTIPLE:
            raise ValueError(f"input_size (w, h) must be positive multiples of {INPUT_MULTIPLE}, got {self.input_size}")

    @property
    def stage_channels(self) -> tuple[tuple[int, ...], ...]:
        """Branch channels of stages 2, 3 and 4."""
        return tuple(tuple(self.width * 2**b for b in range(n)) for n in (2, 3, 4))

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(width, height)`` of the output heatmaps in heatmap pixels."""
        return self.input_size[0] // HEATMAP_STRIDE, self.input_size[1] // HEATMAP_STRIDE

    @property
    def name(self) -> str:
        return f"HRNet-W{self.width} {self.input_size[1]}x{self.input_size[0]}"


class HRNet(nn.Module):
    """Pose HRNet: ``(B, 3, H, W)`` normalised RGB crops -> ``(B, J, H/4, W/4)`` heatmaps.

    H and W must be multiples of 32; they need not equal ``config.input_size`` (the
    network is fully convolutional), but the weights were trained at that size.
    """

    def __init__(self, config: HRNetConfig) -> None:
        super().__init__()
        self.config = config
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.conv2 = nn.Conv2d(STEM_CHANNELS, STEM_CHANNELS, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        layer1_out = STEM_CHANNELS * BOTTLENECK_EXPANSION
        self.layer1 = nn.Sequential(
            *(Bottleneck(STEM_CHANNELS if b == 0 else layer1_out, STEM_CHANNELS) for b in range(config.blocks))
        )
        ch2, ch3, ch4 = config.stage_channels
        self.transition1 = _transition((layer1_out,), ch2)
        self.stage2 = self._stage(ch2, config.modules[0], config.blocks, multi_scale_output=True)
        self.transition2 = _transition(ch2, ch3)
        self.stage3 = self._stage(ch3, config.modules[1], config.blocks, multi_scale_output=True)
        self.transition3 = _transition(ch3, ch4)
        self.stage4 = self._stage(ch4, config.modules[2], config.blocks, multi_scale_output=False)
        k = config.final_conv_kernel
        self.final_layer = nn.Conv2d(ch4[0], config.num_joints, kernel_size=k, stride=1, padding=k // 2)

    @staticmethod
    def _stage(channels: tuple[int, ...], modules: int, blocks: int, multi_scale_output: bool) -> nn.Sequential:
        # Only the very last module may drop the lower-resolution outputs.
        return nn.Sequential(
            *(
                HighResolutionModule(channels, blocks, multi_scale_output or m < modules - 1)
                for m in range(modules)
            )
        )

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        # New branches grow out of the lowest-resolution existing one.
        return [
            (xs[i] if layer is None else layer(xs[i])) if i < len(xs) else layer(xs[-1])
            for i, layer in enumerate(transition)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"HRNet expects (B, 3, H, W) crops, got {tuple(x.shape)}")
        if x.shape[2] % INPUT_MULTIPLE or x.shape[3] % INPUT_MULTIPLE:
            raise ValueError(
                f"HRNet input height and width must be multiples of {INPUT_MULTIPLE}, got {tuple(x.shape[2:])}"
            )
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        xs = self.stage2(self._apply_transition(self.transition1, [x]))
        xs = self.stage3(self._apply_transition(self.transition2, xs))
        xs = self.stage4(self._apply_transition(self.transition3, xs))
        return self.final_layer(xs[0])


# --- checkpoints --------------------------------------------------------------------------

# MMPose prefixes -> official names (1.x: head.*, 0.x: keypoint_head.*).
_MMPOSE_RENAMES = (
    ("backbone.", ""),
    ("head.final_layer.", "final_layer."),
    ("keypoint_head.final_layer.", "final_layer."),
)


def hrnet_state_dict(checkpoint: Any, path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """Official-key tensors of an HRNet checkpoint, whatever layout it was saved in.

    Accepts the official raw state_dict and MMPose's ``{'meta', 'state_dict': {'backbone.*',
    'head.final_layer.*'}}``. Returns ``(state_dict, layout)`` with layout ``official`` or
    ``mmpose``. Raises :class:`CheckpointError` for lifter checkpoints and other files.
    """
    sd = unwrap_state_dict(checkpoint, path)
    family = lifter_family(sd)  # people pass a lifter here by mistake
    if family is not None:
        name = {"stcformer": "STCFormer", "poseformerv2": "PoseFormerV2"}[family]
        raise CheckpointError(f"checkpoint {path} is a 3D lifter checkpoint ({name}), not an HRNet 2D keypoint checkpoint")
    layout = "official"
    if any(k.startswith("backbone.") for k in sd):
        layout = "mmpose"
        renamed = {}
        for k, v in sd.items():
            for old, new in _MMPOSE_RENAMES:
                if k.startswith(old):
                    k = new + k[len(old):]
                    break
            renamed[k] = v
        sd = renamed
    if not any(k.startswith(("transition1.", "stage2.", "final_layer.")) for k in sd):
        raise CheckpointError(
            f"checkpoint {path} is not an HRNet 2D keypoint checkpoint (first keys: {', '.join(list(sd)[:3])})"
        )
    return sd, layout


def _count(sd: dict[str, torch.Tensor], prefix: str) -> int | None:
    found = {int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else None


def infer_hrnet_config(
    sd: dict[str, torch.Tensor], path: str | Path, input_size: tuple[int, int] | None = None
) -> HRNetConfig:
    """The architecture the tensors imply; the crop size comes from the width's official
    variant unless ``input_size`` (w, h) is given (no tensor reveals it)."""
    key = "transition1.0.0.weight"
    if key not in sd:
        raise CheckpointError(f"checkpoint {path} lacks '{key}', from which the HRNet width is read")
    width = int(sd[key].shape[0])
    defaults = HRNetConfig()
    head = sd.get("final_layer.weight")
    if input_size is None:
        if width not in DEFAULT_INPUT_SIZE:
            raise CheckpointError(
                f"checkpoint {path} is an HRNet of width {width}, which has no official crop size: "
                "pass input_size=(w, h)"
            )
        input_size = DEFAULT_INPUT_SIZE[width]
    counts = tuple(_count(sd, f"stage{s}.") or m for s, m in zip((2, 3, 4), defaults.modules))
    try:
        return HRNetConfig(
            width=width,
            input_size=tuple(input_size),  # type: ignore[arg-type]
            num_joints=int(head.shape[0]) if head is not None else defaults.num_joints,
            modules=counts,  # type: ignore[arg-type]
            blocks=_count(sd, "stage2.0.branches.0.") or defaults.blocks,
            final_conv_kernel=int(head.shape[-1]) if head is not None and head.ndim == 4 else 1,
        )
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None


# --- named variants -----------------------------------------------------------------------

#: The official pose HRNets (COCO, 17 keypoints).
HRNET_VARIANTS: dict[str, HRNetConfig] = {
    "hrnet-w32-256x192": HRNetConfig(width=32, input_size=(192, 256)),
    "hrnet-w48-384x288": HRNetConfig(width=48, input_size=(288, 384)),
}
#: Crop size (w, h) each official width was trained at.
DEFAULT_INPUT_SIZE: dict[int, tuple[int, int]] = {c.width: c.input_size for c in HRNET_VARIANTS.values()}


def load_hrnet(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    input_size: tuple[int, int] | None = None,
    checkpoint: Any = None,
) -> tuple[HRNet, HRNetConfig]:
    """A ready HRNet (eval mode, on ``device``) and its config from a checkpoint file.

    Args:
        path: the official raw state_dict (``pose_hrnet_w48_384x288.pth``) or an MMPose
            1.x checkpoint of a top-down HRNet heatmap model.
        device: where the model will run.
        input_size: crop size ``(w, h)`` in pixels; by default that of the official
            variant with the checkpoint's width (W32 192x256, W48 288x384).
        checkpoint: the file's content when the caller has already read it.

    Raises:
        CheckpointError: missing, unreadable, unsafe, foreign (e.g. a lifter) or mis-shaped file.
    """
    sd, layout = hrnet_state_dict(read_checkpoint(path) if checkpoint is None else checkpoint, path)
    config = infer_hrnet_config(sd, path, input_size)
    model = build_with_weights(lambda: HRNet(config), sd, path, f"{config.name} ({layout} layout)")
    log.info("loaded %s from %s (%s layout)", config.name, path, layout)
    return model.to(device).eval(), config


__all__ = [
    "DEFAULT_INPUT_SIZE",
    "HRNET_VARIANTS",
    "HRNet",
    "HRNetConfig",
    "hrnet_state_dict",
    "infer_hrnet_config",
    "load_hrnet",
]
