"""STCFormer: 3D human pose estimation with spatio-temporal criss-cross attention.

Tang, Zhang, Hou, Li, Zhang, Lu, CVPR 2023. The layer names mirror the official
checkpoints (``pose_emb``, ``stcformer.stc_block.N.stc_att``, ``regress_head``) so
their raw state_dicts load unchanged.

Input ``(B, T, J, 2)`` screen-normalised 2D keypoints, output ``(B, T, J, 3)``
root-relative camera-space 3D (the units of the training data: metres for the
official Human3.6M checkpoints). No parameter depends on ``T``: one state_dict
serves every window length, the config's ``frames`` is the window it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Body part of each Human3.6M joint (torso, right leg, left leg, left arm, right arm):
# the index of the learned part embedding added to the spatial branch.
PART_INDEX = (0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 3, 3, 3, 4, 4, 4)
NUM_PARTS = 5


@dataclass(frozen=True)
class STCFormerConfig:
    """Hyper-parameters of one STCFormer variant.

    Attributes:
        frames: window length in frames the model was trained with.
        layers: number of STC blocks.
        d_hid: token width (must split into two halves of ``heads`` heads).
        heads: attention heads in each of the spatial and temporal halves.
        joints: keypoints per frame (17 for Human3.6M; fixes the part index).
    """

    frames: int = 27
    layers: int = 6
    d_hid: int = 256
    heads: int = 8
    joints: int = 17

    def __post_init__(self) -> None:
        if self.d_hid % (2 * self.heads):
            raise ValueError(f"d_hid={self.d_hid} must be divisible by 2*heads={2 * self.heads}")
        if self.joints != len(PART_INDEX):
            raise ValueError(f"STCFormer's part index covers {len(PART_INDEX)} joints, not {self.joints}")
        if self.frames < 1 or self.layers < 1:
            raise ValueError(f"frames and layers must be positive, got {self.frames}, {self.layers}")


class FeedForward(nn.Module):
    """Two bias-free linear layers with a GELU between them (the official ``mlp``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=False)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Softmax attention over the last two dims of ``(..., L, d)`` tensors of any rank.

    The fused CPU kernel takes only 4-D input (a 5-D call falls back to the slow
    unfused path), so the leading dims are flattened first.
    """
    lead = q.shape[:-2]
    out = F.scaled_dot_product_attention(
        q.reshape(-1, 1, *q.shape[-2:]), k.reshape(-1, 1, *k.shape[-2:]), v.reshape(-1, 1, *v.shape[-2:]), scale=scale
    )
    return out.reshape(*lead, *out.shape[-2:])


class CrissCrossAttention(nn.Module):
    """Spatio-temporal criss-cross attention (the official ``stc_att``).

    Half of the channels attend across joints within a frame, the other half across
    frames for each joint; each half adds a depthwise 3x3 convolution of its values
    over the (frame, joint) grid. The spatial half also adds a tiny (1e-4) learned
    part embedding, which the official model keeps at inference, so we keep it too.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        half = dim // 2
        self.heads = heads
        self.head_dim = half // heads
        self.scale = half ** -0.5  # the official scale uses the half width, not the head width
        self.layer_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.emb = nn.Embedding(NUM_PARTS, self.head_dim)
        self.sep2_t = nn.Conv2d(half, half, kernel_size=3, padding=1, groups=half)
        self.sep2_s = nn.Conv2d(half, half, kernel_size=3, padding=1, groups=half)
        # Not in the checkpoints: a non-persistent buffer follows .to(device) and stays out of state_dict.
        self.register_buffer("part", torch.tensor(PART_INDEX, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor, out_frames: slice | None = None) -> torch.Tensor:
        """Args:
            x: ``(B, T, J, C)`` tokens.
            out_frames: compute the output only for these frames (queries, projection
                and residual); keys and values still span the whole window.

        Returns:
            ``(B, T', J, C)`` with ``T'`` the number of frames in ``out_frames``.
        """
        b, t, j, c = x.shape
        h, d = self.heads, self.head_dim
        sel = out_frames if out_frames is not None else slice(None)
        # The official layout interleaves q/k/v innermost: channel index = 3 * c + {q, k, v}.
        q, k, v = self.qkv(self.layer_norm(x)).view(b, t, j, c, 3).unbind(-1)
        half = c // 2

        def heads_first(z: torch.Tensor) -> torch.Tensor:
            # (B, T, J, half) -> (B, H, T, J, d)
            return z.reshape(*z.shape[:3], h, d).permute(0, 3, 1, 2, 4)

        # Spatial half: attention across joints, one frame at a time.
        qs, ks, vs = (heads_first(z[..., :half]) for z in (q[:, sel], k[:, sel], v[:, sel]))
        xs = _attend(qs, ks, vs, self.scale)
        # Temporal half: attention across frames, one joint at a time.
        qt, kt, vt = (heads_first(z[..., half:]).transpose(2, 3) for z in (q[:, sel], k, v))
        xt = _attend(qt, kt, vt, self.scale).transpose(2, 3)

        # Depthwise convolutions of the values over the (frame, joint) grid.
        conv_s = self.sep2_s(v[..., :half].permute(0, 3, 1, 2))[:, :, sel]  # (B, half, T', J)
        conv_t = self.sep2_t(v[..., half:].permute(0, 3, 1, 2))[:, :, sel]
        t_out = conv_s.shape[2]

        def grid_to_heads(z: torch.Tensor) -> torch.Tensor:
            # (B, half, T', J) -> (B, H, T', J, d)
            return z.reshape(b, h, d, t_out, j).permute(0, 1, 3, 4, 2)

        part = self.emb(self.part)  # (J, d)
        xs = xs + grid_to_heads(conv_s) + 1e-4 * part
        xt = xt + grid_to_heads(conv_t) + 1e-9 * part
        # Each head's spatial and temporal outputs sit side by side: (B, T', J, H * 2d).
        out = torch.cat((xs, xt), dim=-1).permute(0, 2, 3, 1, 4).reshape(b, t_out, j, c)
        return self.proj(out) + x[:, sel]


class STCBlock(nn.Module):
    """Criss-cross attention followed by a pre-norm feed-forward layer."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, dim * 4)
        self.stc_att = CrissCrossAttention(dim, heads)

    def forward(self, x: torch.Tensor, out_frames: slice | None = None) -> torch.Tensor:
        x = self.stc_att(x, out_frames)
        return x + self.mlp(self.layer_norm(x))


class STCEncoder(nn.Module):
    """The stack of STC blocks (the official ``stcformer`` submodule)."""

    def __init__(self, layers: int, dim: int, heads: int) -> None:
        super().__init__()
        self.stc_block = nn.ModuleList(STCBlock(dim, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, out_frames: slice | None = None) -> torch.Tensor:
        last = len(self.stc_block) - 1
        for i, block in enumerate(self.stc_block):
            # Only the last block can drop frames: earlier ones feed every frame forward.
            x = block(x, out_frames if i == last else None)
        return x


class STCFormer(nn.Module):
    """The full lifter: per-joint embedding, STC blocks, linear regression head."""

    family = "stcformer"
    seq2seq = True  # one forward pass predicts every frame of its window

    def __init__(self, config: STCFormerConfig | None = None) -> None:
        super().__init__()
        self.config = config or STCFormerConfig()
        dim = self.config.d_hid
        self.pose_emb = nn.Linear(2, dim, bias=False)
        self.gelu = nn.GELU()
        self.stcformer = STCEncoder(self.config.layers, dim, self.config.heads)
        self.regress_head = nn.Linear(dim, 3, bias=False)

    @property
    def num_frames(self) -> int:
        """Window length in frames (the receptive field the model was trained with)."""
        return self.config.frames

    @property
    def tokens_per_window(self) -> int:
        """Tokens one window puts through the transformer (sets the CPU batch size)."""
        return self.config.frames * self.config.joints

    def forward(self, x: torch.Tensor, out_frames: slice | None = None) -> torch.Tensor:
        """Lift a batch of windows.

        Args:
            x: ``(B, T, 17, 2)`` screen-normalised 2D keypoints, Human3.6M order.
            out_frames: which frames to predict (default all); restricting it skips
                the last block's work for the other frames.

        Returns:
            ``(B, T', 17, 3)`` root-relative 3D, ``T'`` = frames in ``out_frames``.
        """
        if x.ndim != 4 or x.shape[-2:] != (self.config.joints, 2):
            raise ValueError(f"STCFormer expects (B, T, {self.config.joints}, 2), got {tuple(x.shape)}")
        x = self.gelu(self.pose_emb(x))
        return self.regress_head(self.stcformer(x, out_frames))

    def forward_centre(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 17, 2)`` -> ``(B, 17, 3)``: the prediction for the window's centre frame."""
        c = (x.shape[1] - 1) // 2
        return self.forward(x, slice(c, c + 1))[:, 0]
