"""What a clip's results depend on, and whether saved results are still current.

One key serves both caches: the 2D result (``pose2d.json``) and the finished clip
(``done.json``). It holds the video's content fingerprint (sha256), the sha256 of every
weights file used (memoised by path, size and mtime, see :func:`core.files.file_fingerprint`)
and the settings, in sections. The 2D cache compares the part of the key the 2D stage
depends on (:meth:`demo.pose2d.Pose2DStage.key`: the video, the detector and HRNet weights,
the 2D settings); ``done.json`` compares all of it (:meth:`demo.pipeline.Pipeline.key`). A replaced video, a
retrained checkpoint at the same path or a changed setting is therefore redone, and
:func:`stale_reason` says which.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.files import file_fingerprint

#: Weights of a model built with fresh random weights (a detector ``.yaml``): never equal
#: to anything, so results made with it are never reused.
UNREPEATABLE = "random-weights"


def weights_identity(path: str | Path | None) -> str:
    """sha256 of a weights file, or :data:`UNREPEATABLE` for a model built from a config."""
    if path is None or str(path).endswith((".yaml", ".yml")):
        return UNREPEATABLE
    return file_fingerprint(path)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class ClipKey:
    """Identity of a clip's results.

    Attributes:
        video: sha256 of the video file's content.
        weights: role (``detector``, ``pose2d``, ``lifter``) -> sha256 of its weights file.
        settings: section (``pose2d``, ``lift``, ``outputs``, ...) -> settings (JSON values).
    """

    video: str
    weights: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def repeatable(self) -> bool:
        """False when a model has random weights: such results are never reused."""
        return UNREPEATABLE not in self.weights.values()

    def to_json(self) -> dict[str, Any]:
        return _jsonable({"video_sha256": self.video, "weights_sha256": self.weights, "settings": self.settings})


def stale_reason(saved: dict[str, Any] | None, current: ClipKey) -> str | None:
    """Why results saved with key ``saved`` (the JSON of a :class:`ClipKey`) do not match
    ``current``, or None when they do."""
    if not current.repeatable:
        return "a model has random weights (results made with it are never reused)"
    if not isinstance(saved, dict):
        return "no record of how they were made"
    now = current.to_json()
    if saved.get("video_sha256") != now["video_sha256"]:
        return "the video's content changed"
    old_weights, new_weights = saved.get("weights_sha256") or {}, now["weights_sha256"]
    for role in sorted(set(old_weights) | set(new_weights)):
        if old_weights.get(role) != new_weights.get(role):
            return f"the {role} weights changed"
    old_settings, new_settings = saved.get("settings") or {}, now["settings"]
    changed = []
    for section in sorted(set(old_settings) | set(new_settings)):
        old, new = old_settings.get(section, {}), new_settings.get(section, {})
        if isinstance(old, dict) and isinstance(new, dict):
            changed += [f"{section}.{name}" for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
        elif old != new:  # a section that is one value (the list of export formats)
            changed.append(section)
    if changed:
        return f"settings changed ({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''})"
    return None


def read_record(path: Path) -> dict[str, Any]:
    """A JSON record (``done.json``, ``pose2d.json``) as a dict; {} where it is missing,
    unreadable or not an object."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def read_saved_key(path: Path) -> dict[str, Any] | None:
    """The ``key`` recorded in a JSON file (``done.json``, ``pose2d.json``), or None."""
    return read_record(path).get("key")
