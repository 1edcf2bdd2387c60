"""RTMPose top-down 2D keypoint network (Jiang et al., "RTMPose: Real-Time Multi-Person
Pose Estimation based on MMPose", 2023) as MMPose 1.3.2 builds it: MMDetection's CSPNeXt
backbone (P5 arch) and MMPose's RTMCCHead, a SimCC coordinate classifier.

A crop of one person, ``(B, 3, H, W)`` normalised RGB, becomes two sets of logits,
``simcc_x (B, K, W * r)`` and ``simcc_y (B, K, H * r)`` (K = 17 COCO keypoints, split
ratio r = 2: one bin per half crop pixel). Parameter and buffer names equal MMPose's
checkpoint keys (``backbone.*``, ``head.*``), so the released ``.pth`` files load
unchanged; the architecture and the crop size are read from the tensors' shapes alone.
Decoding and the top-down geometry live in :mod:`demo.pose2d.simcc`.

Architecture facts that matter for parity (the configs do not say all of them):

- every convolution of the backbone is a "ConvModule": conv without bias -> BatchNorm
  (eps 1e-5, momentum 0.1: the configs use SyncBN with its defaults, not CSPNeXt's own
  1e-3) -> SiLU; the blocks use a 5x5 depthwise-separable conv (both halves with BN+SiLU);
- stage i = stride-2 3x3 ConvModule (-> SPP bottleneck, stage 4 only) -> CSP layer whose
  concatenated halves pass a channel attention (global mean, 1x1 conv with bias,
  hard-sigmoid, multiply) before the final 1x1 ConvModule; residuals inside the blocks in
  stages 1-3 only;
- head: 7x7 conv to K maps (with bias) -> flatten the (H/32, W/32) map per keypoint ->
  ScaleNorm -> Linear (no bias) -> one gated attention unit (GAU) whose K tokens are the
  keypoints -> two Linear layers (no bias) to the x and y bins.

Order of this file: building blocks (backbone, then head) -> the model and its config ->
checkpoint adaptation and config inference -> :func:`load_rtmpose`.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.checkpoint_io import build_with_weights, read_checkpoint, unwrap_state_dict
from core.errors import CheckpointError
from lifter.checkpoints import lifter_family

log = logging.getLogger(__name__)

#: CSPNeXt P5 channels before widening: the stem's output, then each stage's output.
P5_STEM_CHANNELS = 64
P5_STAGE_CHANNELS = (128, 256, 512, 1024)
#: CSPNeXt P5 blocks per stage before deepening (max(round(n * deepen), 1) are built).
P5_STAGE_BLOCKS = (3, 6, 6, 3)
#: Stages whose blocks add their input back (P5: all but the last).
P5_ADD_IDENTITY = (True, True, True, False)
#: Max-pool kernels of the SPP bottleneck in stage 4.
SPP_KERNELS = (5, 9, 13)
BLOCK_KERNEL = 5
CSP_EXPAND_RATIO = 0.5
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
SCALE_NORM_EPS = 1e-5
#: The backbone's output is 1/32 of the input; sides must be multiples of it.
INPUT_MULTIPLE = 32
NUM_COCO_KEYPOINTS = 17

#: The official sizes: widen factor -> (letter, blocks per stage) (deepen 0.167/0.33/0.67/1).
_OFFICIAL_ARCHS: dict[float, tuple[str, tuple[int, int, int, int]]] = {
    0.375: ("t", (1, 1, 1, 1)),
    0.5: ("s", (1, 2, 2, 1)),
    0.75: ("m", (2, 4, 4, 2)),
    1.0: ("l", (3, 6, 6, 3)),
}


# --- backbone building blocks (CSPNeXt) ------------------------------------------------------


class ConvBNAct(nn.Module):
    """Conv (no bias) -> BN -> SiLU, named ``conv`` and ``bn`` as MMCV's ConvModule."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DepthwiseSeparable(nn.Module):
    """Depthwise k x k ConvBNAct then pointwise 1x1 ConvBNAct."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__()
        self.depthwise_conv = ConvBNAct(in_channels, in_channels, kernel, groups=in_channels)
        self.pointwise_conv = ConvBNAct(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class CSPNeXtBlock(nn.Module):
    """3x3 ConvBNAct -> 5x5 depthwise-separable, optionally plus the input."""

    def __init__(self, channels: int, add_identity: bool) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(channels, channels, 3)
        self.conv2 = DepthwiseSeparable(channels, channels, BLOCK_KERNEL)
        self.add_identity = add_identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class ChannelAttention(nn.Module):
    """Squeeze-excite without reduction: x * hardsigmoid(conv1x1(mean over H, W))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.hardsigmoid(self.fc(x.mean(dim=(2, 3), keepdim=True)))
        return x * weights


class CSPLayer(nn.Module):
    """Two 1x1 halves (one through the blocks), concatenated, channel attention, 1x1 out."""

    def __init__(self, channels: int, blocks: int, add_identity: bool) -> None:
        super().__init__()
        mid = int(channels * CSP_EXPAND_RATIO)
        self.main_conv = ConvBNAct(channels, mid, 1)
        self.short_conv = ConvBNAct(channels, mid, 1)
        self.final_conv = ConvBNAct(2 * mid, channels, 1)
        self.blocks = nn.Sequential(*(CSPNeXtBlock(mid, add_identity) for _ in range(blocks)))
        self.attention = ChannelAttention(2 * mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.blocks(self.main_conv(x))
        both = torch.cat((main, self.short_conv(x)), dim=1)
        return self.final_conv(self.attention(both))


class SPPBottleneck(nn.Module):
    """1x1 to half the channels, concatenated with its 5/9/13 max-pools (stride 1), 1x1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = channels // 2
        self.conv1 = ConvBNAct(channels, mid, 1)
        self.poolings = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in SPP_KERNELS)
        self.conv2 = ConvBNAct(mid * (len(SPP_KERNELS) + 1), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x, *(pool(x) for pool in self.poolings)], dim=1))


class CSPNeXt(nn.Module):
    """CSPNeXt P5 with only the last stage's output (``out_indices=(4,)``), stride 32."""

    def __init__(self, config: RTMPoseConfig) -> None:
        super().__init__()
        half, stem_out = config.stem_channels
        self.stem = nn.Sequential(
            ConvBNAct(3, half, 3, stride=2),
            ConvBNAct(half, half, 3),
            ConvBNAct(half, stem_out, 3),
        )
        in_channels = stem_out
        for i, (out_channels, blocks) in enumerate(zip(config.stage_channels, config.stage_blocks)):
            layers: list[nn.Module] = [ConvBNAct(in_channels, out_channels, 3, stride=2)]
            if i == len(config.stage_channels) - 1:
                layers.append(SPPBottleneck(out_channels))
            layers.append(CSPLayer(out_channels, blocks, P5_ADD_IDENTITY[i]))
            self.add_module(f"stage{i + 1}", nn.Sequential(*layers))
            in_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i in range(1, 5):
            x = getattr(self, f"stage{i}")(x)
        return x


# --- head building blocks (RTMCCHead) -------------------------------------------------------


class ScaleNorm(nn.Module):
    """x / max(||x||_2 / sqrt(dim), eps) * g over the last axis, one learnt scalar g."""

    def __init__(self, dim: int, eps: float = SCALE_NORM_EPS) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """Per-channel learnt multiplier (the residual scale of the GAU)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class GAU(nn.Module):
    """Gated attention unit over the K keypoint tokens (MMPose's RTMCCBlock, self-attention,
    no relative position bias, no rotary encoding, no dropout):

    ``u, v, base = split(silu(uv(ScaleNorm(x))), [e, e, s])``; ``q, k = base * gamma + beta``;
    ``A = relu(q k^T / sqrt(s))^2``; ``out = res_scale * x + o(u * (A v))``.
    """

    def __init__(self, dims: int, s: int, expansion_factor: int) -> None:
        super().__init__()
        self.e = int(dims * expansion_factor)
        self.s = s
        # Registration order gives MMPose's key order: gamma, beta, o, uv, ln, res_scale.
        self.gamma = nn.Parameter(torch.ones(2, s))
        self.beta = nn.Parameter(torch.zeros(2, s))
        self.o = nn.Linear(self.e, dims, bias=False)
        self.uv = nn.Linear(dims, 2 * self.e + s, bias=False)
        self.ln = ScaleNorm(dims)
        self.res_scale = Scale(dims)
        self.sqrt_s = math.sqrt(s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        uv = F.silu(self.uv(self.ln(x)))
        u, v, base = torch.split(uv, [self.e, self.e, self.s], dim=-1)
        base = base.unsqueeze(2) * self.gamma + self.beta  # (B, K, 2, s)
        q, k = base[:, :, 0], base[:, :, 1]
        kernel = torch.square(F.relu(torch.matmul(q, k.transpose(1, 2)) / self.sqrt_s))
        return self.res_scale(x) + self.o(u * torch.matmul(kernel, v))


class RTMCCHead(nn.Module):
    """Backbone map -> per-keypoint tokens -> GAU -> SimCC logits for x and y."""

    def __init__(self, config: RTMPoseConfig) -> None:
        super().__init__()
        k = config.final_kernel
        fw, fh = config.in_featuremap_size
        self.final_layer = nn.Conv2d(config.stage_channels[-1], config.num_joints, k, padding=k // 2)
        self.mlp = nn.Sequential(ScaleNorm(fw * fh), nn.Linear(fw * fh, config.hidden_dims, bias=False))
        self.gau = GAU(config.hidden_dims, config.s, config.expansion_factor)
        wx, wy = config.simcc_size
        self.cls_x = nn.Linear(config.hidden_dims, wx, bias=False)
        self.cls_y = nn.Linear(config.hidden_dims, wy, bias=False)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.gau(self.mlp(self.final_layer(feats).flatten(2)))
        return self.cls_x(tokens), self.cls_y(tokens)


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RTMPoseConfig:
    """Architecture and crop size of an RTMPose (CSPNeXt P5 + RTMCCHead).

    Attributes:
        widen_factor: CSPNeXt channel multiplier (0.375 t, 0.5 s, 0.75 m, 1.0 l); the stem
            has ``int(64 w // 2)`` then ``int(64 w)`` channels, the stages ``int(c w)`` for
            c = 128, 256, 512, 1024.
        stage_blocks: CSPNeXt blocks in each of the four stages.
        input_size: crop size ``(width, height)`` in pixels, multiples of 32.
        num_joints: keypoints K (17 COCO).
        hidden_dims: token width of the GAU (256 in every official body model).
        s: width of the GAU's shared query/key base.
        expansion_factor: the GAU's u and v have ``hidden_dims * expansion_factor`` channels.
        final_kernel: kernel of the head's first conv.
        split_ratio: SimCC bins per crop pixel (not stored in checkpoints; 2 officially).
    """

    widen_factor: float
    stage_blocks: tuple[int, int, int, int]
    input_size: tuple[int, int]
    num_joints: int = NUM_COCO_KEYPOINTS
    hidden_dims: int = 256
    s: int = 128
    expansion_factor: int = 2
    final_kernel: int = 7
    split_ratio: float = 2.0

    def __post_init__(self) -> None:
        if not self.widen_factor > 0 or int(P5_STEM_CHANNELS * self.widen_factor // 2) < 1:
            raise ValueError(f"widen_factor must give at least one stem channel, got {self.widen_factor}")
        if len(self.stage_blocks) != 4 or min(self.stage_blocks) < 1:
            raise ValueError(f"stage_blocks must give four positive counts, got {self.stage_blocks}")
        if min(self.num_joints, self.hidden_dims, self.s, self.expansion_factor) < 1:
            raise ValueError(f"num_joints, hidden_dims, s and expansion_factor must be positive, got {self}")
        if self.final_kernel < 1 or self.final_kernel % 2 == 0:
            raise ValueError(f"final_kernel must be odd and positive, got {self.final_kernel}")
        w, h = self.input_size
        if w < INPUT_MULTIPLE or h < INPUT_MULTIPLE or w % INPUT_MULTIPLE or h % INPUT_MULTIPLE:
            raise ValueError(f"input_size (w, h) must be positive multiples of {INPUT_MULTIPLE}, got {self.input_size}")
        bins = (w * self.split_ratio, h * self.split_ratio)
        if not self.split_ratio > 0 or any(abs(b - round(b)) > 1e-9 for b in bins):
            raise ValueError(f"split_ratio must be positive and give whole bin counts, got {self.split_ratio}")

    @property
    def stem_channels(self) -> tuple[int, int]:
        """Channels of the first two stem convs, and of the stem's output."""
        return int(P5_STEM_CHANNELS * self.widen_factor // 2), int(P5_STEM_CHANNELS * self.widen_factor)

    @property
    def stage_channels(self) -> tuple[int, int, int, int]:
        """Output channels of the four stages (the last feeds the head)."""
        return tuple(int(c * self.widen_factor) for c in P5_STAGE_CHANNELS)  # type: ignore[return-value]

    @property
    def in_featuremap_size(self) -> tuple[int, int]:
        """``(w, h)`` of the backbone's output map."""
        return self.input_size[0] // INPUT_MULTIPLE, self.input_size[1] // INPUT_MULTIPLE

    @property
    def simcc_size(self) -> tuple[int, int]:
        """Bins ``(W * r, H * r)`` of ``simcc_x`` and ``simcc_y``."""
        return round(self.input_size[0] * self.split_ratio), round(self.input_size[1] * self.split_ratio)

    @property
    def arch(self) -> str | None:
        """``"rtmpose-t"``/``-s``/``-m``/``-l`` for the official sizes, else None."""
        official = _OFFICIAL_ARCHS.get(self.widen_factor)
        if official is None or official[1] != tuple(self.stage_blocks):
            return None
        return f"rtmpose-{official[0]}"

    @property
    def name(self) -> str:
        size = f"{self.input_size[1]}x{self.input_size[0]}"
        arch = self.arch
        if arch is not None:
            return f"RTMPose-{arch[-1]} {size}"
        return f"RTMPose (widen {self.widen_factor:g}) {size}"


class RTMPose(nn.Module):
    """RTMPose: ``(B, 3, H, W)`` normalised RGB crops -> ``(simcc_x (B, K, W r),
    simcc_y (B, K, H r))`` logits. H, W must equal ``config.input_size`` (the head's
    linear layer sees the whole flattened feature map). Any batch size, including a
    dynamic one in an exported graph: the forward pass is plain tensor operations.
    """

    def __init__(self, config: RTMPoseConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = CSPNeXt(config)
        self.head = RTMCCHead(config)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w, h = self.config.input_size
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != h or x.shape[3] != w:
            raise ValueError(f"{self.config.name} expects (B, 3, {h}, {w}) crops, got {tuple(x.shape)}")
        return self.head(self.backbone(x))


# --- checkpoints --------------------------------------------------------------------------


def is_rtmpose_state_dict(sd: dict[str, torch.Tensor]) -> bool:
    """True for MMPose RTMPose keys: a CSPNeXt stem and an RTMCCHead (GAU and cls_x)."""
    return (
        "head.cls_x.weight" in sd
        and any(k.startswith("head.gau.") for k in sd)
        and any(k.startswith("backbone.stem.") for k in sd)
    )


def _is_hrnet(sd: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(("transition1.", "backbone.transition1.", "stage2.0.branches.")) for k in sd)


def rtmpose_state_dict(checkpoint: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an MMPose RTMPose checkpoint (``{'meta', 'state_dict'}`` or a raw
    state_dict with the same keys), for the 17 COCO body keypoints.

    Raises:
        CheckpointError: one line naming ``path`` and what the file is instead: a 3D
            lifter, an HRNet, a whole-body/hand/face RTMPose (K != 17), something else.
    """
    sd = unwrap_state_dict(checkpoint, path)
    family = lifter_family(sd)
    if family is not None:
        name = {"stcformer": "STCFormer", "poseformerv2": "PoseFormerV2"}.get(family, family)
        raise CheckpointError(
            f"checkpoint {path} is a 3D lifter checkpoint ({name}), not an RTMPose 2D keypoint checkpoint"
        )
    if _is_hrnet(sd):
        layout = "MMPose" if any(k.startswith("backbone.") for k in sd) else "official"
        raise CheckpointError(
            f"checkpoint {path} is an HRNet heatmap checkpoint ({layout} layout), not RTMPose: load it as an HRNet"
        )
    if not is_rtmpose_state_dict(sd):
        if any(k.startswith("backbone.stem.") for k in sd):
            what = "has a CSPNeXt-like backbone but no RTMCCHead (head.gau.*, head.cls_x.*): a detector such as RTMDet?"
        else:
            what = f"is not an RTMPose checkpoint (first keys: {', '.join(list(sd)[:3])})"
        raise CheckpointError(f"checkpoint {path} {what}")
    head = sd.get("head.final_layer.weight")
    if head is None or head.ndim != 4:
        raise CheckpointError(
            f"checkpoint {path} lacks a 4-d 'head.final_layer.weight', from which the keypoints are read"
        )
    k = int(head.shape[0])
    if k != NUM_COCO_KEYPOINTS:
        raise CheckpointError(
            f"checkpoint {path} is an RTMPose that has {k} keypoints (whole-body, hand, face or another "
            f"dataset); only the {NUM_COCO_KEYPOINTS} COCO body keypoints are supported"
        )
    return sd


def _shape(sd: dict[str, torch.Tensor], key: str, path: str | Path, ndim: int) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"checkpoint {path} lacks '{key}', which the RTMPose architecture needs")
    shape = tuple(sd[key].shape)
    if len(shape) != ndim:
        raise CheckpointError(f"checkpoint {path}: '{key}' has shape {shape}, expected {ndim} dimensions")
    return shape


def _count(sd: dict[str, torch.Tensor], prefix: str) -> int:
    found = {int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else 0


def infer_rtmpose_config(sd: dict[str, torch.Tensor], path: str | Path, split_ratio: float = 2.0) -> RTMPoseConfig:
    """The architecture and crop size that the tensors' shapes imply.

    Widths from the stage-4 conv (``int(1024 w)``), blocks from the key indices, GAU sizes
    from ``head.gau.*``, K from ``head.final_layer``, the crop from ``cls_x``/``cls_y`` rows
    (``W r``, ``H r``) checked against the flattened map ``head.mlp.1`` expects.
    """
    stage4_out = _shape(sd, "backbone.stage4.0.conv.weight", path, 4)[0]
    widen = stage4_out / P5_STAGE_CHANNELS[-1]
    blocks = []
    for i in range(1, 5):
        csp = 2 if i == 4 else 1  # stage 4 has the SPP bottleneck at index 1
        blocks.append(_count(sd, f"backbone.stage{i}.{csp}.blocks."))
    final = _shape(sd, "head.final_layer.weight", path, 4)
    hidden, flat = _shape(sd, "head.mlp.1.weight", path, 2)
    s = _shape(sd, "head.gau.gamma", path, 2)[1]
    uv_out = _shape(sd, "head.gau.uv.weight", path, 2)[0]
    expansion, rest = divmod(uv_out - s, 2 * hidden)
    rows_x = _shape(sd, "head.cls_x.weight", path, 2)[0]
    rows_y = _shape(sd, "head.cls_y.weight", path, 2)[0]
    w, h = rows_x / split_ratio, rows_y / split_ratio
    if rest or expansion < 1:
        raise CheckpointError(
            f"checkpoint {path}: head.gau.uv has {uv_out} outputs, not 2 x {hidden} x expansion + {s}"
        )
    if w != int(w) or h != int(h) or int(w) % INPUT_MULTIPLE or int(h) % INPUT_MULTIPLE:
        raise CheckpointError(
            f"checkpoint {path}: cls_x/cls_y have {rows_x}/{rows_y} bins, which at split ratio {split_ratio:g} "
            f"is no crop with sides multiple of {INPUT_MULTIPLE} ({w:g}x{h:g})"
        )
    w, h = int(w), int(h)
    if (w // INPUT_MULTIPLE) * (h // INPUT_MULTIPLE) != flat:
        raise CheckpointError(
            f"checkpoint {path}: cls_x/cls_y imply a {w}x{h} crop (a {w // INPUT_MULTIPLE}x{h // INPUT_MULTIPLE} "
            f"feature map) but head.mlp.1 expects {flat} flattened positions"
        )
    if final[1] != stage4_out:
        raise CheckpointError(
            f"checkpoint {path}: head.final_layer takes {final[1]} channels but the backbone gives {stage4_out}"
        )
    try:
        return RTMPoseConfig(
            widen_factor=widen,
            stage_blocks=tuple(blocks),  # type: ignore[arg-type]
            input_size=(w, h),
            num_joints=int(final[0]),
            hidden_dims=int(hidden),
            s=int(s),
            expansion_factor=int(expansion),
            final_kernel=int(final[-1]),
            split_ratio=split_ratio,
        )
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None


def load_rtmpose(
    path: str | Path, *, device: str | torch.device = "cpu", checkpoint: Any = None
) -> tuple[RTMPose, RTMPoseConfig]:
    """A ready RTMPose (eval mode, on ``device``) and its config from an MMPose checkpoint
    (``rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.pth`` and the like).

    Raises:
        CheckpointError: missing, unreadable, truncated, foreign (lifter, HRNet, whole-body)
            or mis-shaped file.
    """
    sd = rtmpose_state_dict(read_checkpoint(path) if checkpoint is None else checkpoint, path)
    config = infer_rtmpose_config(sd, path)
    model = build_with_weights(lambda: RTMPose(config), sd, path, config.name)
    log.info("loaded %s from %s", config.name, path)
    return model.to(device).eval(), config


__all__ = [
    "RTMPose",
    "RTMPoseConfig",
    "infer_rtmpose_config",
    "is_rtmpose_state_dict",
    "load_rtmpose",
    "rtmpose_state_dict",
]
