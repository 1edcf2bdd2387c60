"""The two lifter architectures: parity with the reference fixtures and the official schemas."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lifter.checkpoints import read_checkpoint, unwrap_state_dict
from lifter.poseformerv2 import PoseFormerV2, PoseFormerV2Config, dct_matrix, idct_matrix
from lifter.registry import build_lifter, create_lifter, lifter_entries
from lifter.stcformer import STCFormer, STCFormerConfig

from .conftest import REPO, fixture_path

TOL = 1e-5
FIXTURE_STC = STCFormerConfig(frames=27, layers=2, d_hid=128, heads=8)
FIXTURE_PF = {
    "poseformerv2_ref_f27_k3_c3": PoseFormerV2Config(27, 3, 3, embed_dim_ratio=16, depth=1, heads=8),
    "poseformerv2_ref_f81_k9_c9": PoseFormerV2Config(81, 9, 9, embed_dim_ratio=16, depth=2, heads=8),
}


def _stcformer_fixture_model() -> STCFormer:
    model = STCFormer(FIXTURE_STC).eval()
    model.load_state_dict(read_checkpoint(fixture_path("stcformer_ref.pth")), strict=True)
    return model


@pytest.mark.parametrize("x_key,y_key", [("x27", "y27"), ("x81", "y81")])
def test_stcformer_matches_reference(x_key: str, y_key: str) -> None:
    model = _stcformer_fixture_model()
    ref = np.load(fixture_path("stcformer_ref.npz"))
    x = torch.from_numpy(ref[x_key])
    with torch.inference_mode():
        out = model(x).numpy()
        centre = model.forward_centre(x).numpy()
    assert out.shape == ref[y_key].shape
    assert np.abs(out - ref[y_key]).max() <= TOL
    c = (x.shape[1] - 1) // 2
    # The centre-only path skips the last block's work for the other frames; same numbers.
    assert np.abs(centre - ref[y_key][:, c]).max() <= TOL


@pytest.mark.parametrize("name", list(FIXTURE_PF))
def test_poseformerv2_matches_reference(name: str) -> None:
    model = PoseFormerV2(FIXTURE_PF[name]).eval()
    ckpt = read_checkpoint(fixture_path(f"{name}.bin"))
    assert set(ckpt) >= {"epoch", "lr", "model_pos"}  # the official wrapper, unchanged
    model.load_state_dict(unwrap_state_dict(ckpt, name), strict=True)
    ref = np.load(fixture_path(f"{name}.npz"))
    with torch.inference_mode():
        out = model(torch.from_numpy(ref["x"])).numpy()
    assert out.shape == ref["y"].shape == (2, 1, 17, 3)
    assert np.abs(out - ref["y"]).max() <= TOL


def test_poseformerv2_shared_spatial_features_equal_inline() -> None:
    """forward(x, spatial=embed_frames(kept frames)) is the same computation as forward(x)."""
    torch.manual_seed(0)
    model = PoseFormerV2(FIXTURE_PF["poseformerv2_ref_f81_k9_c9"]).eval()
    x = torch.randn(3, 81, 17, 2)
    with torch.inference_mode():
        spatial = model.embed_frames(x[:, model.kept].flatten(0, 1)).view(3, 9, -1)
        assert torch.allclose(model(x), model(x, spatial=spatial), atol=1e-6)


def test_dct_matrices_are_inverse_and_match_the_definition() -> None:
    n = 9
    d, inv = dct_matrix(n), idct_matrix(n)
    assert torch.allclose(inv @ d, torch.eye(n, dtype=torch.float64), atol=1e-12)
    x = torch.randn(n, dtype=torch.float64)
    k = 2
    direct = 2 * sum(x[i] * np.cos(np.pi * k * (2 * i + 1) / (2 * n)) for i in range(n))
    assert torch.isclose((d @ x)[k], direct)


def _official_schemas() -> dict[str, dict[str, list[int]]]:
    return json.loads(fixture_path("official_schemas.json").read_text())


@pytest.mark.parametrize("name", list(lifter_entries()))
def test_registry_entries_build_the_official_schema(name: str) -> None:
    schemas = _official_schemas()
    entry = lifter_entries()[name]
    model = create_lifter(name)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    if entry.family == "stcformer":
        key = f"stcformer_layers{entry.config.layers}_dhid{entry.config.d_hid}"
        assert shapes == schemas[key]
    else:
        c = entry.config
        key = f"poseformerv2_{c.frames}_{c.frames_kept}_{c.coeffs_kept}"
        # The official file wraps nn.DataParallel: every key carries 'module.'.
        assert {f"module.{k}": v for k, v in shapes.items()} == schemas[key]


def test_every_official_schema_has_a_registry_entry() -> None:
    lifters = [k for k in _official_schemas() if not k.startswith("hrnet")]
    covered = set()
    for e in lifter_entries().values():
        c = e.config
        covered.add(
            f"stcformer_layers{c.layers}_dhid{c.d_hid}"
            if e.family == "stcformer"
            else f"poseformerv2_{c.frames}_{c.frames_kept}_{c.coeffs_kept}"
        )
    assert set(lifters) <= covered


def test_stcformer_part_index_is_a_non_persistent_buffer() -> None:
    model = STCFormer(FIXTURE_STC)
    assert not any(k.endswith(".part") for k in model.state_dict())
    buffers = dict(model.named_buffers())
    assert buffers["stcformer.stc_block.0.stc_att.part"].tolist() == [0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 3, 3, 3, 4, 4, 4]


def test_no_cuda_calls_in_model_code() -> None:
    """Device-agnostic: the seeds' hard-coded .cuda() must not come back."""
    for path in (REPO / "lifter").glob("*.py"):
        assert ".cuda()" not in path.read_text(), path


def test_models_follow_the_device_and_dtype_of_their_input() -> None:
    model = build_lifter(FIXTURE_STC).to(torch.float64)
    with torch.inference_mode():
        out = model(torch.randn(1, 5, 17, 2, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (1, 5, 17, 3)


@pytest.mark.parametrize("bad", [(2, 27, 16, 2), (27, 17, 2), (2, 27, 17, 3)])
def test_wrong_input_shape_is_a_clear_error(bad: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expects \(B, T, 17, 2\)"):
        build_lifter(FIXTURE_STC)(torch.zeros(bad))
    with pytest.raises(ValueError, match=r"expects \(B, 27, 17, 2\)"):
        PoseFormerV2(FIXTURE_PF["poseformerv2_ref_f27_k3_c3"])(torch.zeros(bad))


def test_configs_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="divisible"):
        STCFormerConfig(d_hid=100, heads=8)
    with pytest.raises(ValueError, match="frames_kept"):
        PoseFormerV2Config(frames=27, frames_kept=4, coeffs_kept=3)
    with pytest.raises(ValueError, match="coeffs_kept"):
        PoseFormerV2Config(frames=27, frames_kept=3, coeffs_kept=40)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_on_cuda_stays_close(dtype: torch.dtype) -> None:
    model = _stcformer_fixture_model().cuda()
    ref = np.load(fixture_path("stcformer_ref.npz"))
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
        out = model(torch.from_numpy(ref["x27"]).cuda()).float().cpu().numpy()
    assert np.abs(out - ref["y27"]).max() < 5e-2
