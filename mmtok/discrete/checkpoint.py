"""Checkpoints of discrete image tokenizers, as safetensors files (no pickle anywhere).

* The model file (e.g. ``tok.safetensors``): the model's state dict (weights and quantizer buffers),
  with the JSON model config and the training step in the safetensors metadata. `load_model(path)`
  rebuilds the model from it alone; it is all `encode`, `decode` and `eval` need.
* The training-state side file (``tok.train.safetensors`` beside it): Adam's state flattened to
  tensors named ``optimizer.state.<param>.<key>`` (param groups as JSON metadata), torch's global RNG
  state, the optional discriminator and its optimizer, the step, the elapsed seconds and the training
  config, so an interrupted run resumes where it stopped.

Both are written to a temporary file and renamed into place, so an interruption while saving leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os

from . import require_torch
from ..errors import InvalidOptionError

__all__ = ["save_model", "load_model", "read_metadata", "train_state_path", "read_train_metadata", "save_train_state", "load_train_state"]

FORMAT = "mmtok-discrete-tokenizer"


def _save(tensors: dict, metadata: dict, path: str) -> None:
    from safetensors.torch import save_file

    tmp = f"{path}.tmp"
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, tmp, metadata=metadata)
    os.replace(tmp, path)


def _missing(path: str, what: str) -> InvalidOptionError:
    return InvalidOptionError(f"{path}: no such {what}; check the path, or train one with `mmtok discrete train --out {path}`")


def save_model(model, path: str, step: int = 0) -> str:
    meta = {"format": FORMAT, "config": json.dumps(model.config, sort_keys=True), "step": str(int(step))}
    _save(model.state_dict(), meta, path)
    return path


def read_metadata(path: str) -> dict:
    """The model file's metadata: {"config": dict, "step": int}; typed errors for other files."""
    try:
        from safetensors import safe_open
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("safetensors", "discrete tokenizer checkpoints", "discrete") from None
    if not os.path.isfile(path):
        raise _missing(path, "checkpoint file")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own SafetensorError / OSError for foreign files
        raise InvalidOptionError(f"{path}: not a safetensors checkpoint ({e}); pass a file written by `mmtok discrete train`") from None
    if meta.get("format") != FORMAT:
        raise InvalidOptionError(f"{path}: a safetensors file, but not an mmtok discrete tokenizer checkpoint (no config in its metadata)")
    return {"config": json.loads(meta["config"]), "step": int(meta.get("step", 0))}


def load_model(path: str):
    """The model saved at `path`, in eval mode."""
    from safetensors.torch import load_file

    from .models import build_model

    meta = read_metadata(path)
    model = build_model(meta["config"])
    model.load_state_dict(load_file(path))
    model.step = meta["step"]
    return model.eval()


def train_state_path(path: str) -> str:
    root, ext = os.path.splitext(path)
    return f"{root}.train{ext or '.safetensors'}"


def _flatten_optimizer(prefix: str, optimizer, tensors: dict, meta: dict) -> None:
    torch = require_torch()
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.state.{index}.{key}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    meta[f"{prefix}.groups"] = json.dumps(state["param_groups"])


def _unflatten_optimizer(prefix: str, optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith(prefix + ".state."):
            index, key = name[len(prefix) + 7 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta[f"{prefix}.groups"])})


def save_train_state(path: str, *, step: int, elapsed: float, train_config: dict, optimizer, discriminator=None, disc_optimizer=None) -> str:
    """Writes the side file of the model checkpoint at `path`; returns its path."""
    torch = require_torch()
    tensors: dict = {"rng.torch": torch.get_rng_state()}
    meta = {"format": FORMAT + "-train-state", "step": str(int(step)), "elapsed": repr(float(elapsed)), "train_config": json.dumps(train_config, sort_keys=True)}
    _flatten_optimizer("optimizer", optimizer, tensors, meta)
    if discriminator is not None:
        tensors.update({f"disc.{k}": v for k, v in discriminator.state_dict().items()})
        _flatten_optimizer("disc_optimizer", disc_optimizer, tensors, meta)
    side = train_state_path(path)
    _save(tensors, meta, side)
    return side


def read_train_metadata(path: str) -> dict:
    """The raw metadata of the training-state side file of the checkpoint at `path`."""
    from safetensors import safe_open

    side = train_state_path(path)
    if not os.path.isfile(side):
        raise InvalidOptionError(f"{side}: no training state beside the checkpoint {path}, so it cannot be resumed; start a new run")
    with safe_open(side, framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT + "-train-state":
        raise InvalidOptionError(f"{side}: not an mmtok training-state file; start a new run")
    return meta


def load_train_state(path: str, *, optimizer, discriminator=None, disc_optimizer=None) -> dict:
    """Restores optimizer(s), discriminator and torch's RNG from the side file of `path`; returns
    {"step", "elapsed", "train_config"}."""
    from safetensors.torch import load_file

    torch = require_torch()
    meta = read_train_metadata(path)
    tensors = load_file(train_state_path(path))
    side = train_state_path(path)
    _unflatten_optimizer("optimizer", optimizer, tensors, meta)
    if discriminator is not None:
        if not any(k.startswith("disc.") for k in tensors):
            raise InvalidOptionError(f"{side}: the run was trained without a discriminator; resume it with the same --gan-weight")
        discriminator.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
        _unflatten_optimizer("disc_optimizer", disc_optimizer, tensors, meta)
    torch.set_rng_state(tensors["rng.torch"])
    return {"step": int(meta["step"]), "elapsed": float(meta["elapsed"]), "train_config": json.loads(meta["train_config"])}
