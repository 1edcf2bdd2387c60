"""Named lifter variants: the official checkpoints, their configs and where they are published.

The data lives in ``checkpoints/manifest.json`` (committed; the weights are not; files,
sources and the manifest's reading are :mod:`core.weights`). A name such as
``stcformer-27`` resolves to a config, a local file under the checkpoint folder and a
download source.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Union

from torch import nn

from core.errors import CheckpointError
from core.weights import WeightsFile, close_matches, manifest_section
from .poseformerv2 import PoseFormerV2, PoseFormerV2Config
from .stcformer import STCFormer, STCFormerConfig

LifterConfig = Union[STCFormerConfig, PoseFormerV2Config]
LifterModel = Union[STCFormer, PoseFormerV2]

#: family name -> (model class, config class)
FAMILIES: dict[str, tuple[type[nn.Module], type]] = {
    "stcformer": (STCFormer, STCFormerConfig),
    "poseformerv2": (PoseFormerV2, PoseFormerV2Config),
}


@dataclass(frozen=True, kw_only=True)
class LifterEntry(WeightsFile):
    """One official lifter checkpoint.

    Attributes:
        family: ``stcformer`` or ``poseformerv2``.
        config: the architecture, including the window length the file does not store.
        mpjpe_mm, p_mpjpe_mm: the authors' Human3.6M errors (reported, not measured here).
    """

    family: str
    config: LifterConfig
    mpjpe_mm: float
    p_mpjpe_mm: float | None = None


def _parse_entry(name: str, raw: dict[str, Any]) -> LifterEntry:
    family = raw["family"]
    if family not in FAMILIES:
        raise ValueError(f"manifest entry {name}: unknown family {family!r}")
    return LifterEntry(**dict(raw, config=FAMILIES[family][1](**raw["config"])))


@lru_cache(maxsize=1)
def lifter_entries() -> dict[str, LifterEntry]:
    """All named lifters, in manifest order."""
    return {name: _parse_entry(name, item) for name, item in manifest_section("lifters").items()}


def get_entry(name: str) -> LifterEntry:
    """The registry entry called ``name``; a clear error with the known names otherwise."""
    entries = lifter_entries()
    if name not in entries:
        raise CheckpointError(
            f"unknown lifter '{name}'{close_matches(name, list(entries))}; known: {', '.join(entries)}"
        )
    return entries[name]


def config_to_dict(config: LifterConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in fields(config)}


def build_lifter(config: LifterConfig) -> LifterModel:
    """A randomly initialised model for ``config`` (eval mode)."""
    for model_cls, config_cls in FAMILIES.values():
        if isinstance(config, config_cls):
            return model_cls(config).eval()
    raise TypeError(f"not a lifter config: {config!r}")


def create_lifter(name: str) -> LifterModel:
    """A randomly initialised model with the architecture of registry entry ``name``."""
    return build_lifter(get_entry(name).config)
