"""PoseFormerV2: exploring the frequency domain for efficient and robust 3D pose.

Zhao, Zheng, Liu, Wang, Chen, CVPR 2023. A spatial transformer embeds the
``frames_kept`` frames around the window's centre; the first ``coeffs_kept``
DCT-II coefficients of the whole window are embedded as frequency tokens; mixed
time/frequency transformer blocks fuse them and a head regresses the centre frame.

The attribute names (``Joint_embedding``, ``Spatial_blocks``, ``blocks.N.mlp2`` ...)
mirror the official checkpoints so their ``model_pos`` state_dict loads unchanged once
``nn.DataParallel``'s ``module.`` prefix is stripped.

Input ``(B, frames, J, 2)`` screen-normalised 2D keypoints, output ``(B, 1, J, 3)``
root-relative camera-space 3D of the centre frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PoseFormerV2Config:
    """Hyper-parameters of one PoseFormerV2 variant.

    Attributes:
        frames: input window length (the checkpoint's tensors do not tell it).
        frames_kept: time-domain frames around the centre fed to the spatial transformer.
        coeffs_kept: low-frequency DCT coefficients of the whole window kept as tokens.
        embed_dim_ratio: per-joint width; the temporal width is ``embed_dim_ratio * joints``.
        depth: spatial and mixed blocks (each).
        heads: attention heads.
        mlp_ratio: hidden width of every MLP relative to its input.
        qkv_bias: whether the attention projections carry a bias.
        joints: keypoints per frame.
    """

    frames: int = 243
    frames_kept: int = 27
    coeffs_kept: int = 27
    embed_dim_ratio: int = 32
    depth: int = 4
    heads: int = 8
    mlp_ratio: float = 2.0
    qkv_bias: bool = True
    joints: int = 17

    def __post_init__(self) -> None:
        if not 1 <= self.frames_kept <= self.frames or self.frames_kept % 2 == 0:
            raise ValueError(f"frames_kept={self.frames_kept} must be odd and at most frames={self.frames}")
        if not 1 <= self.coeffs_kept <= self.frames:
            raise ValueError(f"coeffs_kept={self.coeffs_kept} must be in 1..frames={self.frames}")
        if self.embed_dim_ratio % self.heads or (self.embed_dim_ratio * self.joints) % self.heads:
            raise ValueError(f"embed_dim_ratio={self.embed_dim_ratio} does not split into {self.heads} heads")

    @property
    def embed_dim(self) -> int:
        """Width of the temporal (mixed) tokens."""
        return self.embed_dim_ratio * self.joints


def dct_matrix(n: int) -> torch.Tensor:
    """``(n, n)`` float64 matrix ``D`` of the unnormalised DCT-II, ``X = D @ x``.

    ``X_k = 2 * sum_i x_i cos(pi * k * (2i + 1) / (2n))``, the convention of
    ``torch_dct.dct(x, norm=None)`` that the official model was trained with.
    """
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    return 2.0 * torch.cos(math.pi * k * (2 * i + 1) / (2 * n))


def idct_matrix(n: int) -> torch.Tensor:
    """``(n, n)`` float64 inverse of :func:`dct_matrix` (``torch_dct.idct(norm=None)``)."""
    weights = torch.full((n,), 2.0, dtype=torch.float64)
    weights[0] = 1.0
    return dct_matrix(n).T * weights[None, :] / (4 * n)


class Mlp(nn.Module):
    """Linear, GELU, linear (with biases)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class FreqMlp(Mlp):
    """An :class:`Mlp` applied in the DCT domain of the token axis (length fixed at build)."""

    def __init__(self, dim: int, hidden: int, tokens: int) -> None:
        super().__init__(dim, hidden)
        self.register_buffer("dct", dct_matrix(tokens).float(), persistent=False)
        self.register_buffer("idct", idct_matrix(tokens).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, tokens, dim)`` -> same shape."""
        x = torch.matmul(self.dct.to(x.dtype), x)
        return torch.matmul(self.idct.to(x.dtype), super().forward(x))


class Attention(nn.Module):
    """Multi-head self-attention over ``(B, N, C)`` tokens."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


def _norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


class Block(nn.Module):
    """Pre-norm transformer block (spatial branch)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, qkv_bias: bool) -> None:
        super().__init__()
        self.norm1 = _norm(dim)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = _norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MixedBlock(nn.Module):
    """Attention over all tokens, then a plain MLP on the first half of the tokens
    and a DCT-domain MLP on the second half (split at ``tokens // 2``, as the official
    model does, whatever the two token kinds' counts are)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, qkv_bias: bool, tokens: int) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.split = tokens // 2
        self.norm1 = _norm(dim)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = _norm(dim)
        self.mlp1 = Mlp(dim, hidden)
        self.norm3 = _norm(dim)
        self.mlp2 = FreqMlp(dim, hidden, tokens - self.split)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        first, second = x[:, : self.split], x[:, self.split :]
        first = first + self.mlp1(self.norm2(first))
        second = second + self.mlp2(self.norm3(second))
        return torch.cat((first, second), dim=1)


class PoseFormerV2(nn.Module):
    """The full lifter; ``forward`` predicts the centre frame of each window."""

    family = "poseformerv2"
    seq2seq = False  # one forward pass predicts only the centre frame

    def __init__(self, config: PoseFormerV2Config | None = None) -> None:
        super().__init__()
        cfg = self.config = config or PoseFormerV2Config()
        ratio, dim, joints = cfg.embed_dim_ratio, cfg.embed_dim, cfg.joints
        tokens = cfg.frames_kept + cfg.coeffs_kept

        self.Joint_embedding = nn.Linear(2, ratio)
        self.Freq_embedding = nn.Linear(2 * joints, dim)
        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, joints, ratio))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, cfg.frames_kept, dim))
        self.Temporal_pos_embed_ = nn.Parameter(torch.zeros(1, cfg.coeffs_kept, dim))
        self.Spatial_blocks = nn.ModuleList(
            Block(ratio, cfg.heads, cfg.mlp_ratio, cfg.qkv_bias) for _ in range(cfg.depth)
        )
        self.blocks = nn.ModuleList(
            MixedBlock(dim, cfg.heads, cfg.mlp_ratio, cfg.qkv_bias, tokens) for _ in range(cfg.depth)
        )
        self.Spatial_norm = _norm(ratio)
        self.Temporal_norm = _norm(dim)
        self.weighted_mean = nn.Conv1d(cfg.coeffs_kept, 1, kernel_size=1)
        self.weighted_mean_ = nn.Conv1d(cfg.frames_kept, 1, kernel_size=1)
        self.head = nn.Sequential(nn.LayerNorm(dim * 2), nn.Linear(dim * 2, joints * 3))

        centre = (cfg.frames - 1) // 2
        first = centre - cfg.frames_kept // 2
        self.kept = slice(first, first + cfg.frames_kept)
        # The truncated DCT-II basis, (frames, coeffs_kept): coefficients = window @ basis. Kept in
        # float64: a float32 DCT of a still pose leaves ~2e-5 of noise in coefficients that are 0.
        self.register_buffer("dct_basis", dct_matrix(cfg.frames)[: cfg.coeffs_kept].T.contiguous(), persistent=False)

    @property
    def num_frames(self) -> int:
        """Window length in frames (the receptive field)."""
        return self.config.frames

    @property
    def tokens_per_window(self) -> int:
        """Tokens one more window adds to a batch (sets the CPU batch size): its temporal tokens
        and one new frame's joints, since windows share their spatial features (see ``spatial``)."""
        c = self.config
        return c.frames_kept + c.coeffs_kept + c.joints

    def embed_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """The spatial transformer on single frames: ``(N, 17, 2)`` -> ``(N, embed_dim)``.

        It sees one frame at a time, so overlapping windows can share its output
        (see ``spatial`` in :meth:`forward`).
        """
        x = self.Joint_embedding(frames) + self.Spatial_pos_embed
        for blk in self.Spatial_blocks:
            x = blk(x)
        return self.Spatial_norm(x).flatten(1)

    def forward(self, x: torch.Tensor, spatial: torch.Tensor | None = None) -> torch.Tensor:
        """Args:
            x: ``(B, frames, 17, 2)`` screen-normalised 2D keypoints, Human3.6M order.
            spatial: optional ``(B, frames_kept, embed_dim)``, :meth:`embed_frames` of
                the window's kept frames, when the caller already computed them.

        Returns:
            ``(B, 1, 17, 3)`` root-relative 3D of the centre frame.
        """
        cfg = self.config
        if x.ndim != 4 or x.shape[1:] != (cfg.frames, cfg.joints, 2):
            raise ValueError(
                f"PoseFormerV2 ({cfg.frames} frames) expects (B, {cfg.frames}, {cfg.joints}, 2), "
                f"got {tuple(x.shape)}"
            )
        b = x.shape[0]
        if spatial is None:  # time-domain tokens: the kept frames around the centre
            spatial = self.embed_frames(x[:, self.kept].flatten(0, 1)).view(b, cfg.frames_kept, cfg.embed_dim)

        # Frequency tokens: low DCT coefficients of every joint coordinate's trajectory.
        with torch.autocast(device_type=x.device.type, enabled=False):
            coeffs = torch.matmul(x.permute(0, 2, 3, 1).double(), self.dct_basis.double()).float()  # (B, J, 2, K)
        freq = self.Freq_embedding(coeffs.permute(0, 3, 1, 2).reshape(b, cfg.coeffs_kept, -1))

        tokens = torch.cat((freq + self.Temporal_pos_embed_, spatial + self.Temporal_pos_embed), dim=1)
        for blk in self.blocks:
            tokens = blk(tokens)
        tokens = self.Temporal_norm(tokens)
        pooled = torch.cat(
            (self.weighted_mean(tokens[:, : cfg.coeffs_kept]), self.weighted_mean_(tokens[:, cfg.coeffs_kept :])),
            dim=-1,
        )
        return self.head(pooled).view(b, 1, cfg.joints, 3)

    def forward_centre(self, x: torch.Tensor, spatial: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, frames, 17, 2)`` -> ``(B, 17, 3)``; ``spatial`` as in :meth:`forward`."""
        return self.forward(x, spatial)[:, 0]
