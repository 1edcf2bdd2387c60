"""Reading checkpoint files safely: ``torch.load(weights_only=True)`` with numpy metadata
allowed and nothing else unpickled, unwrapping the state_dict from whatever the training
code saved it in, and a strict key/shape comparison with a model that names what differs.
Every model loader (lifters, HRNet) reads its files through here.
"""
from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError, brief

# numpy objects that training frameworks leave in checkpoint metadata (MMPose's 'meta').
# They only rebuild arrays and scalars, so weights_only loading may construct them; the
# legacy 'numpy.core' names are how files written with numpy 1.x refer to them.
_NUMPY_SAFE_GLOBALS: list[Any] = [
    np.ndarray,
    np.dtype,
    np._core.multiarray._reconstruct,
    np._core.multiarray.scalar,
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    *(getattr(np.dtypes, name) for name in np.dtypes.__all__ if name.endswith("DType")),
]

def read_checkpoint(path: str | Path) -> Any:
    """``torch.load`` a file on the CPU with ``weights_only=True``.

    Numpy arrays and scalars in metadata are allowed; any other Python object is
    refused rather than unpickled. Raises :class:`CheckpointError` with one line.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): an interrupted download? Delete it and fetch it again")
    try:
        with torch.serialization.safe_globals(_NUMPY_SAFE_GLOBALS), warnings.catch_warnings():
            # torch warns about pickle protocols it handles fine; the user cannot act on it.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"checkpoint {path} holds pickled Python objects{what} that safe loading refuses: "
            "it is not a plain weights file (a whole-model or YOLO save?); we never unpickle arbitrary code"
        ) from None
    except Exception as e:  # noqa: BLE001 - torch.load raises arbitrary types (IndexError, KeyError...) on garbage
        text = str(e)
        with open(path, "rb") as f:
            zip_start = f.read(4) == b"PK\x03\x04"  # how every torch.save file since PyTorch 1.6 begins
        if zip_start or isinstance(e, EOFError) or "unexpected EOF" in text:
            reason = f"is truncated or corrupt ({size} bytes): an interrupted download? Delete it and fetch it again"
        else:
            reason = f"is not a PyTorch checkpoint ({type(e).__name__}: {brief(e)})"
        raise CheckpointError(f"checkpoint {path} {reason}") from None


def unwrap_state_dict(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, whatever wrapper the training code saved them in.

    Accepts a raw state_dict, ``{'model_pos': ...}`` (PoseFormerV2), ``{'state_dict': ...}``
    (MMPose) or ``{'model': ...}``; strips ``nn.DataParallel``'s ``module.`` prefix.
    """
    if isinstance(obj, dict):
        for key in ("model_pos", "state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"checkpoint {path} holds no state_dict (found {type(obj).__name__})")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"checkpoint {path} is not a state_dict: entries such as {not_tensors[:3]} are not tensors"
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)



def check_state_dict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """Strict key and shape comparison with an error naming the first offending keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) ({', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} wrongly shaped (file vs model: {'; '.join(wrong[:3])})")
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit {what}: {', '.join(problems)}")


def build_with_weights(
    build: Callable[[], torch.nn.Module], state_dict: dict[str, torch.Tensor], path: str | Path, what: str
) -> torch.nn.Module:
    """The module ``build()`` makes, holding the file's tensors: built on the meta device
    (no time spent on a random initialisation that would be overwritten: 0.7 s for
    HRNet-W48 on a CPU), checked against them (:func:`check_state_dict`), floats as float32.

    Raises:
        CheckpointError: keys or shapes that do not fit ``what``.
    """
    with torch.device("meta"):
        model = build()
    check_state_dict(model, state_dict, path, what)
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    model.load_state_dict(tensors, strict=True, assign=True)
    return model
