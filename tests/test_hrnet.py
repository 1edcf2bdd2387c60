"""HRNet: parity with reference heatmaps, official key layouts, loading and its errors."""
from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from demo.pose2d.hrnet import HRNET_VARIANTS, HRNet, HRNetConfig, hrnet_state_dict, infer_hrnet_config, load_hrnet
from lifter.checkpoints import read_checkpoint
from core.errors import CheckpointError

from .conftest import fixture_path

FIXTURE_SIZE = (96, 128)  # (w, h) of hrnet_ref.npz's input


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def _schema(name: str) -> dict[str, tuple[int, ...]]:
    schemas = json.loads(fixture_path("official_schemas.json").read_text())
    return {k: tuple(v) for k, v in schemas[name].items()}


def _to_mmpose(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official keys -> MMPose 1.x keys (the inverse of what the loader does)."""
    return {(f"head.{k}" if k.startswith("final_layer.") else f"backbone.{k}"): v for k, v in sd.items()}


@pytest.fixture(scope="module")
def ref_state_dict() -> dict[str, torch.Tensor]:
    return dict(read_checkpoint(fixture_path("hrnet_ref.pth")))


# --- parity and layouts ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hrnet_ref.pth", "hrnet_ref_mmpose.pth"])
def test_heatmaps_match_reference(name: str) -> None:
    ref = np.load(fixture_path("hrnet_ref.npz"))
    model, config = load_hrnet(fixture_path(name), input_size=FIXTURE_SIZE)
    assert not model.training
    assert config == HRNetConfig(width=8, input_size=FIXTURE_SIZE, num_joints=17, modules=(1, 4, 3), blocks=4)
    assert config.stage_channels == ((8, 16), (8, 16, 32), (8, 16, 32, 64))
    with torch.inference_mode():
        heatmaps = model(torch.from_numpy(ref["x"])).numpy()
    assert heatmaps.shape == (2, 17, 32, 24)
    diff = np.abs(heatmaps - ref["y"]).max()
    assert diff <= 1e-4, f"max abs difference {diff}"


@pytest.mark.parametrize("variant", sorted(HRNET_VARIANTS))
def test_full_size_models_have_the_official_keys_and_shapes(variant: str) -> None:
    config = HRNET_VARIANTS[variant]
    with torch.device("meta"):
        model = HRNet(config)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = _schema(f"hrnet_w{config.width}")
    assert ours == official
    # The same file in MMPose's layout maps onto the same keys.
    mmpose = _to_mmpose({k: torch.empty(s, device="meta") for k, s in official.items()})
    mapped, layout = hrnet_state_dict({"meta": {}, "state_dict": mmpose}, "w.pth")
    assert layout == "mmpose"
    assert {k: tuple(v.shape) for k, v in mapped.items()} == official


@pytest.mark.parametrize("variant", sorted(HRNET_VARIANTS))
def test_config_is_inferred_from_the_tensors(variant: str) -> None:
    official = {k: torch.empty(s, device="meta") for k, s in _schema(f"hrnet_w{HRNET_VARIANTS[variant].width}").items()}
    assert infer_hrnet_config(official, "w.pth") == HRNET_VARIANTS[variant]
    assert HRNET_VARIANTS[variant].heatmap_size == tuple(s // 4 for s in HRNET_VARIANTS[variant].input_size)


def test_input_shape_is_checked() -> None:
    model = HRNet(HRNetConfig(width=8, input_size=FIXTURE_SIZE))
    with pytest.raises(ValueError, match=r"expects \(B, 3, H, W\) crops, got \(3, 128, 96\)"):
        model(torch.zeros(3, 128, 96))
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, 100, 96))


# --- checkpoint errors ----------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "w48.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"w48\.pth is empty \(0 bytes\)"):
        load_hrnet(tmp_path / "w48.pth")


def test_truncated_file(tmp_path: Path) -> None:
    data = fixture_path("hrnet_ref.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth is truncated or corrupt"):
        load_hrnet(tmp_path / "cut.pth")


@pytest.mark.parametrize(
    ("name", "family"), [("stcformer_ref.pth", "STCFormer"), ("poseformerv2_ref_f27_k3_c3.bin", "PoseFormerV2")]
)
def test_lifter_checkpoint_given_as_hrnet(name: str, family: str) -> None:
    expected = rf"is a 3D lifter checkpoint \({family}\), not an HRNet 2D keypoint checkpoint"
    with pytest.raises(CheckpointError, match=expected):
        load_hrnet(fixture_path(name))


def test_wrongly_shaped_key_is_named(tmp_path: Path, ref_state_dict: dict[str, torch.Tensor]) -> None:
    sd = dict(ref_state_dict)
    sd["stage3.0.fuse_layers.2.1.0.0.weight"] = torch.zeros(32, 16, 1, 1)
    with pytest.raises(CheckpointError) as err:
        load_hrnet(_save(sd, tmp_path / "shape.pth"), input_size=FIXTURE_SIZE)
    msg = str(err.value)
    assert "shape.pth does not fit HRNet-W8 128x96 (official layout)" in msg
    assert "stage3.0.fuse_layers.2.1.0.0.weight (32, 16, 1, 1) vs (32, 16, 3, 3)" in msg


def test_missing_and_unexpected_keys_are_named(tmp_path: Path, ref_state_dict: dict[str, torch.Tensor]) -> None:
    sd = _to_mmpose(ref_state_dict)
    del sd["backbone.stage4.1.branches.3.0.bn2.running_var"]
    sd["head.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        load_hrnet(_save({"meta": {}, "state_dict": sd}, tmp_path / "edited.pth"), input_size=FIXTURE_SIZE)
    msg = str(err.value)
    assert "(mmpose layout)" in msg
    assert "1 missing key(s) (stage4.1.branches.3.0.bn2.running_var)" in msg
    assert "1 unexpected key(s) (head.extra.weight)" in msg


def test_foreign_state_dict(tmp_path: Path) -> None:
    path = _save({"model.0.conv.weight": torch.zeros(1)}, tmp_path / "yolo.pth")
    expected = r"yolo\.pth is not an HRNet 2D keypoint checkpoint \(first keys: model\.0\.conv\.weight\)"
    with pytest.raises(CheckpointError, match=expected):
        load_hrnet(path)


def test_unofficial_width_needs_a_crop_size() -> None:
    with pytest.raises(CheckpointError, match=r"HRNet of width 8, which has no official crop size: pass input_size"):
        load_hrnet(fixture_path("hrnet_ref.pth"))


def test_arbitrary_pickled_code_is_refused_not_run(tmp_path: Path, ref_state_dict: dict[str, torch.Tensor]) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"meta": {"hook": Payload()}, "state_dict": _to_mmpose(ref_state_dict)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth holds pickled Python objects \(\w+\.system\)"):
        load_hrnet(path, input_size=FIXTURE_SIZE)
    # A plain pickle of the same object is refused as well.
    (tmp_path / "evil2.pth").write_bytes(pickle.dumps({"a": Payload()}))
    with pytest.raises(CheckpointError, match="never unpickle arbitrary code"):
        load_hrnet(tmp_path / "evil2.pth")
    assert not marker.exists()


# --- MMPose metadata with numpy objects ------------------------------------------------------


def _meta() -> dict[str, object]:
    return {
        "mmpose_version": "1.3.2",
        "dataset_meta": {"sigmas": np.linspace(0.025, 0.107, 17, dtype=np.float32), "flip_indices": np.arange(17)},
        "epoch": np.int64(210),
        "best_ap": np.float32(0.767),
    }


def _rename_numpy_module(path: Path, out: Path) -> int:
    """Rewrite the pickle inside a torch zip file as numpy 1.x would have written it
    (``numpy.core.multiarray`` instead of numpy 2's ``numpy._core.multiarray``)."""
    replaced = 0
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                # Protocol 2 GLOBAL opcodes: b"c" + module + b"\n" + name + b"\n".
                replaced = data.count(b"cnumpy._core.multiarray\n")
                data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
            dst.writestr(info.filename, data)
    return replaced


def test_mmpose_checkpoint_with_numpy_metadata_loads(tmp_path: Path, ref_state_dict: dict[str, torch.Tensor]) -> None:
    path = _save({"meta": _meta(), "state_dict": _to_mmpose(ref_state_dict)}, tmp_path / "mmpose.pth")
    model, config = load_hrnet(path, input_size=FIXTURE_SIZE)
    assert config.width == 8
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in ref_state_dict.items())


def test_numpy1_module_names_in_metadata_load(tmp_path: Path, ref_state_dict: dict[str, torch.Tensor]) -> None:
    modern = _save({"meta": _meta(), "state_dict": _to_mmpose(ref_state_dict)}, tmp_path / "modern.pth")
    legacy = tmp_path / "legacy.pth"
    assert _rename_numpy_module(modern, legacy) >= 2  # arrays and scalars were both rewritten
    with zipfile.ZipFile(legacy) as z:
        pkl = next(z.read(n) for n in z.namelist() if n.endswith("/data.pkl"))
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in pkl and b"cnumpy.core.multiarray\nscalar\n" in pkl
    meta = read_checkpoint(legacy)["meta"]
    assert meta["epoch"] == 210 and meta["dataset_meta"]["sigmas"].shape == (17,)
    model, _ = load_hrnet(legacy, input_size=FIXTURE_SIZE)
    assert torch.equal(model.final_layer.weight, ref_state_dict["final_layer.weight"])
