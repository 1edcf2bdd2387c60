"""Every option type the command line, the pipeline and the cluster share: what to run
(:class:`PipelineOptions`), which rendered files to write (:class:`VideoOutputs`) and the
camera and smoothing behind the motion (:class:`MotionOptions`). The stages' own settings
live beside their code and are gathered here: :class:`demo.pose2d.Pose2DConfig`,
:class:`lifter.inference.LiftOptions`, :class:`demo.render.RenderConfig`,
:class:`demo.render.gif.GifOptions`."""
from __future__ import annotations

from dataclasses import dataclass, field

from lifter.inference import LiftOptions

from .motion.camera import FOV_SIDES
from .motion.smoothing import DEFAULT_PRESET, PRESETS, SmoothingConfig
from .pose2d.stage import Pose2DConfig
from .render.gif import GifOptions
from .render.style import RenderConfig

DEFAULT_LIFTER = "stcformer-27"


@dataclass(frozen=True)
class MotionOptions:
    """Smoothing and the camera behind the trajectories.

    Attributes:
        focal: focal length in pixels, or None.
        fov: field of view in degrees across ``fov_side``, or None (with ``focal`` None:
            the default of :mod:`demo.motion.camera`, across the long side).
        fov_side: which side of the displayed picture ``fov`` spans: ``long`` (default:
            the same camera gives the same focal length held upright or sideways),
            ``width`` or ``height``.
        smooth: filter for the 2D keypoints before lifting and for the root trajectory.
        smooth_3d: filter for the lifted root-relative joints.
    """

    focal: float | None = None
    fov: float | None = None
    fov_side: str = "long"
    smooth: SmoothingConfig = PRESETS[DEFAULT_PRESET]
    smooth_3d: SmoothingConfig = PRESETS["none"]

    def __post_init__(self) -> None:
        if self.fov_side not in FOV_SIDES:
            raise ValueError(f"fov_side must be one of {', '.join(FOV_SIDES)}, got {self.fov_side!r}")


@dataclass(frozen=True)
class VideoOutputs:
    """Which rendered files to write.

    Attributes:
        video: the side-by-side ``<clip>_pose.mp4``.
        gif: GIF options, or None for no GIF.
        html: the 3D viewer page ``<clip>_viewer.html`` (:mod:`demo.viewer`).
    """

    video: bool = True
    gif: GifOptions | None = None
    html: bool = True

    @property
    def any(self) -> bool:
        """True when frames are rendered (a video or a GIF)."""
        return self.video or self.gif is not None


@dataclass(frozen=True)
class PipelineOptions:
    """Everything a pipeline needs.

    Attributes:
        pose2d: detector, tracker and 2D model settings.
        lifter: registry name or checkpoint path of the lifter.
        frames: the lifter's window, for checkpoints the registry does not know.
        lift: lifting protocol and batching (its precision is set from ``precision``).
        motion: smoothing, and the camera behind the trajectories.
        exports: motion files beside ``pose3d.npz``/``.json``: any of ``bvh``, ``csv``, ``fbx``.
        outputs: which rendered files to write.
        render: how they are drawn (``min_score``: joints scored lower are faded;
            ``keypoints_2d``: the lifted or the raw 2D keypoints on the left panel).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: torch threads; ``None``: every core the process may use.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` for every model.
        backend: ``auto``, ``torch``, ``openvino`` or ``onnxruntime`` for every model
            (``None``: ``$POSE3D_BACKEND`` or ``auto``; see :mod:`core.backends`).
        overwrite: redo clips that are already done (and recompute their 2D).
        download: fetch missing registry weights automatically.
        progress: show progress bars.
    """

    pose2d: Pose2DConfig = field(default_factory=Pose2DConfig)
    lifter: str = DEFAULT_LIFTER
    frames: int | None = None
    lift: LiftOptions = field(default_factory=LiftOptions)
    motion: MotionOptions = field(default_factory=MotionOptions)
    exports: tuple[str, ...] = ()
    outputs: VideoOutputs = field(default_factory=VideoOutputs)
    render: RenderConfig = field(default_factory=RenderConfig)
    device: str = "auto"
    threads: int | None = None
    precision: str = "auto"
    backend: str | None = None
    overwrite: bool = False
    download: bool = True
    progress: bool = True
