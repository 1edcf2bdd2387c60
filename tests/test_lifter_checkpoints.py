"""Loading lifter checkpoints: official formats unchanged, inferred configs, one-line errors."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lifter.checkpoints import inspect_checkpoint, load_lifter, read_checkpoint
from core.errors import CheckpointError
from lifter.poseformerv2 import PoseFormerV2
from core.weights import checkpoints_dir
from lifter.registry import create_lifter, get_entry
from lifter.stcformer import STCFormer

from .conftest import fixture_path


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def _same_weights(a: torch.nn.Module, b: dict[str, torch.Tensor]) -> bool:
    sd = a.state_dict()
    return set(sd) == set(b) and all(torch.equal(sd[k], b[k]) for k in b)


# --- official formats ---------------------------------------------------------------------


def test_stcformer_raw_state_dict_loads_with_a_window() -> None:
    path = fixture_path("stcformer_ref.pth")
    model = load_lifter(path, frames=27)
    assert isinstance(model, STCFormer) and not model.training
    assert (model.config.layers, model.config.d_hid, model.config.heads) == (2, 128, 8)
    assert model.num_frames == 27
    assert _same_weights(model, read_checkpoint(path))


def test_poseformerv2_official_wrapper_loads_unchanged() -> None:
    path = fixture_path("poseformerv2_ref_f81_k9_c9.bin")
    model = load_lifter(path, frames=81)
    assert isinstance(model, PoseFormerV2)
    c = model.config
    assert (c.frames, c.frames_kept, c.coeffs_kept, c.embed_dim_ratio, c.depth) == (81, 9, 9, 16, 2)
    raw = read_checkpoint(path)["model_pos"]
    assert _same_weights(model, {k.removeprefix("module."): v for k, v in raw.items()})


def test_plain_state_dict_without_module_prefix_loads(tmp_path: Path) -> None:
    raw = read_checkpoint(fixture_path("poseformerv2_ref_f27_k3_c3.bin"))["model_pos"]
    plain = _save({k.removeprefix("module."): v for k, v in raw.items()}, tmp_path / "plain.pth")
    model = load_lifter(plain, frames=27)
    assert model.config.frames_kept == 3 and model.config.depth == 1


def test_registry_name_resolves_to_the_checkpoint_folder() -> None:
    """A full-size official layout saved under the registry's file name loads by name."""
    entry = get_entry("stcformer-27")
    assert entry.path.parent == checkpoints_dir()  # the per-test folder from conftest
    torch.save(create_lifter("stcformer-27").state_dict(), entry.path)
    model = load_lifter("stcformer-27")
    assert model.num_frames == 27 and model.config.layers == 6 and model.config.d_hid == 256
    # The same file under its official name but passed as a path is recognised too.
    assert load_lifter(entry.path).num_frames == 27


def test_poseformerv2_official_file_layout_loads_by_name() -> None:
    entry = get_entry("poseformerv2-243-27-27")
    model = create_lifter(entry.name)
    torch.save({"epoch": 3, "lr": 1e-3, "model_pos": {f"module.{k}": v for k, v in model.state_dict().items()}}, entry.path)
    loaded = load_lifter(entry.name)
    assert loaded.config == entry.config
    assert _same_weights(loaded, model.state_dict())


def test_info_describes_an_official_layout() -> None:
    entry = get_entry("poseformerv2-81-9-9")
    torch.save({"model_pos": create_lifter(entry.name).state_dict()}, entry.path)
    info = inspect_checkpoint(entry.name)
    assert info.family == "poseformerv2" and info.entry == entry
    assert [e.name for e in info.official_matches()] == ["poseformerv2-81-9-9"]
    assert info.num_parameters == sum(p.numel() for p in create_lifter(entry.name).parameters())


# --- what the file does not tell ------------------------------------------------------------


def test_window_length_is_never_a_silent_default() -> None:
    with pytest.raises(CheckpointError, match=r"does not store its window length: pass frames=N"):
        load_lifter(fixture_path("stcformer_ref.pth"))


def test_unknown_file_with_official_layout_hints_the_official_windows(tmp_path: Path) -> None:
    path = _save(create_lifter("stcformer-81").state_dict(), tmp_path / "mine.pth")
    with pytest.raises(CheckpointError, match=r"official files with this layout use 27 or 81"):
        load_lifter(path)
    assert load_lifter(path, frames=81).num_frames == 81


def test_named_entry_with_the_wrong_file_says_what_the_file_is() -> None:
    """'poseformerv2-243-27-27' asked for, but the file there is the 81/9/9 model."""
    entry = get_entry("poseformerv2-243-27-27")
    torch.save({"model_pos": create_lifter("poseformerv2-81-9-9").state_dict()}, entry.path)
    with pytest.raises(CheckpointError) as err:
        load_lifter(entry.name)
    msg = str(err.value)
    assert str(entry.path) in msg
    assert "PoseFormerV2 checkpoint (9/9 frames_kept/coeffs_kept)" in msg
    assert "poseformerv2-81-9-9" in msg and "'poseformerv2-243-27-27' was asked for" in msg
    assert "243 frames" in msg


def test_official_file_with_another_window_is_refused() -> None:
    entry = get_entry("stcformer-27")
    torch.save(create_lifter(entry.name).state_dict(), entry.path)
    with pytest.raises(CheckpointError, match=r"is 'stcformer-27' .* but 81 frames were asked for"):
        load_lifter(entry.name, frames=81)


# --- bad files --------------------------------------------------------------------------------


def test_missing_registry_file_says_where_to_get_it() -> None:
    with pytest.raises(CheckpointError) as err:
        load_lifter("poseformerv2-243-27-27")
    msg = str(err.value)
    assert "not downloaded" in msg and "27_243_45.2.bin" in msg
    assert "https://drive.google.com/file/d/14SpqPyq9yiblCzTH5CorymKCUsXapmkg/view" in msg
    assert "drive.google.com" in msg and "vis.py" not in msg  # lifter/ never names the app


def test_unknown_name_suggests_a_close_match() -> None:
    with pytest.raises(CheckpointError, match=r"did you mean 'stcformer-27'"):
        load_lifter("stcfromer-27")


def test_missing_file_path() -> None:
    with pytest.raises(CheckpointError, match=r"no checkpoint file or lifter name '/nonexistent/x.pth'"):
        load_lifter("/nonexistent/x.pth", frames=27)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pth is empty \(0 bytes\)"):
        load_lifter(tmp_path / "empty.pth", frames=27)


def test_truncated_file(tmp_path: Path) -> None:
    data = fixture_path("stcformer_ref.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth is truncated or corrupt"):
        load_lifter(tmp_path / "cut.pth", frames=27)


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "notes.pth").write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match=r"notes\.pth is not a PyTorch checkpoint"):
        load_lifter(tmp_path / "notes.pth", frames=27)


def test_hrnet_checkpoint_given_as_lifter() -> None:
    for name in ("hrnet_ref.pth", "hrnet_ref_mmpose.pth"):
        with pytest.raises(CheckpointError, match=r"is an HRNet 2D keypoint checkpoint, not a lifter"):
            load_lifter(fixture_path(name), frames=27)


def test_arbitrary_pickled_code_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"a": Payload()}))
    with pytest.raises(CheckpointError, match=r"pickled Python objects .* never unpickle arbitrary code"):
        load_lifter(path, frames=27)
    assert not marker.exists()


def test_numpy_metadata_is_allowed(tmp_path: Path) -> None:
    sd = read_checkpoint(fixture_path("stcformer_ref.pth"))
    path = _save({"state_dict": sd, "meta": {"sigmas": np.arange(3.0), "epoch": np.int64(4)}}, tmp_path / "meta.pth")
    assert load_lifter(path, frames=27).config.layers == 2


def test_list_is_not_a_state_dict(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"holds no state_dict \(found list\)"):
        load_lifter(_save([1, 2, 3], tmp_path / "list.pth"), frames=27)


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    sd = dict(read_checkpoint(fixture_path("stcformer_ref.pth")))
    del sd["stcformer.stc_block.1.mlp.fc2.weight"]
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        load_lifter(_save(sd, tmp_path / "edited.pth"), frames=27)
    msg = str(err.value)
    assert "edited.pth does not fit" in msg
    assert "1 missing key(s) (stcformer.stc_block.1.mlp.fc2.weight)" in msg
    assert "1 unexpected key(s) (extra.weight)" in msg


def test_wrongly_shaped_key_is_named(tmp_path: Path) -> None:
    sd = dict(read_checkpoint(fixture_path("stcformer_ref.pth")))
    sd["stcformer.stc_block.0.stc_att.proj.weight"] = torch.zeros(128, 64)
    with pytest.raises(CheckpointError, match=r"wrongly shaped .*stc_att\.proj\.weight \(128, 64\) vs \(128, 128\)"):
        load_lifter(_save(sd, tmp_path / "shape.pth"), frames=27)


def test_foreign_state_dict_is_named(tmp_path: Path) -> None:
    path = _save({"encoder.layer.0.weight": torch.zeros(2)}, tmp_path / "bert.pth")
    with pytest.raises(CheckpointError, match=r"not an STCFormer or PoseFormerV2 checkpoint \(first keys: encoder"):
        load_lifter(path, frames=27)
