"""2D-to-3D human pose lifters (STCFormer, PoseFormerV2): models, checkpoints, lifting people's tracks."""
from core.errors import CheckpointError, LiftError, UserError

from .checkpoints import inspect_checkpoint, load_lifter
from .inference import Lift3DResult, LiftOptions, lift_tracks
from .options import add_lift_arguments, lift_options_from_args
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
    "add_lift_arguments",
    "create_lifter",
    "get_entry",
    "inspect_checkpoint",
    "lift_options_from_args",
    "lift_tracks",
    "lifter_entries",
    "load_lifter",
]
