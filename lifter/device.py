"""Choosing the torch device from a user's ``auto`` / ``cpu`` / ``cuda`` choice."""
from __future__ import annotations

import torch

from .errors import UserError


def pick_device(choice: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    choice = choice.lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {choice} was asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
        return torch.device(choice)
    if choice == "cpu":
        return torch.device("cpu")
    raise UserError(f"unknown device '{choice}': use auto, cpu or cuda")
