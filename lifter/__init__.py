"""2D-to-3D human pose lifters (STCFormer, PoseFormerV2): models, checkpoints, whole-clip lifting."""
from .checkpoints import inspect_checkpoint, load_lifter
from .errors import CheckpointError, LiftError, UserError
from .inference import Lift3DResult, LiftOptions, camera_to_world, lift_track, world_for_display
from .poseformerv2 import PoseFormerV2, PoseFormerV2Config
from .registry import create_lifter, get_entry, lifter_entries
from .stcformer import STCFormer, STCFormerConfig

__all__ = [
    "CheckpointError",
    "Lift3DResult",
    "LiftError",
    "LiftOptions",
    "PoseFormerV2",
    "PoseFormerV2Config",
    "STCFormer",
    "STCFormerConfig",
    "UserError",
    "camera_to_world",
    "create_lifter",
    "get_entry",
    "inspect_checkpoint",
    "lift_track",
    "lifter_entries",
    "load_lifter",
    "world_for_display",
]
