"""Network files: parameters in safetensors, the architecture in JSON beside them (and in the
safetensors header), written atomically and checked against each other before anything is
allocated. Optimizer state is not saved. :class:`~nnforge.nn.network.Network`'s ``save``,
``load`` and ``load_weights`` call these.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from nnforge._io import atomic_write_bytes, atomic_write_text
from nnforge._validation import check_scalar

if TYPE_CHECKING:
    from nnforge.nn.network import Network

__all__ = ["FORMAT", "load_weights", "named_parameters", "read_config", "save"]

FORMAT = "nnforge.network/1"


def save(net: Network, path: str | os.PathLike[str]) -> Path:
    """Write ``path.safetensors`` (parameters) and ``path.json`` (architecture) atomically.

    ``path`` may end in ``.safetensors`` or ``.json``; returns the path without suffix.
    Optimizer state is not saved.
    """
    base = _base_path(path)
    config_json = json.dumps(net.get_config(), indent=2)
    tensors = {k: np.ascontiguousarray(v) for k, v in named_parameters(net).items()}
    blob = _canonical(st_save(tensors, metadata={"format": FORMAT, "config": config_json}))
    atomic_write_bytes(base.with_name(base.name + ".safetensors"), blob)
    atomic_write_text(base.with_name(base.name + ".json"), config_json + "\n")
    return base


def _canonical(blob: bytes) -> bytes:
    """``blob`` with its JSON header's keys in sorted order: safetensors writes the metadata
    from a hash map, whose order changes from one process to the next, so the same network
    gave different files. Same format: 8-byte little-endian header size, the header padded
    with spaces to a multiple of 8 bytes, then the tensor bytes unchanged."""
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + size :]


def read_config(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """The path without suffix and the architecture of a network saved by :func:`save`, checked
    against the shapes in its safetensors file."""
    base = _base_path(path)
    json_path = base.with_name(base.name + ".json")
    st_path = base.with_name(base.name + ".safetensors")
    try:
        if json_path.exists() or not st_path.exists():
            text = json_path.read_text()
        else:  # the architecture is also stored in the safetensors header
            with safe_open(st_path, framework="numpy") as f:
                text = (f.metadata() or {}).get("config", "")
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"invalid network description for {str(base)!r}: {exc}"
        raise ValueError(msg) from None
    if st_path.exists():  # before allocating: a hand-edited size must not exhaust memory
        _check_config_against_file(config, st_path)
    return base, config


def load_weights(net: Network, path: str | os.PathLike[str]) -> None:
    """Load parameters saved by :meth:`save` into this network, checking every shape.

    Raises ``ValueError`` naming the layer and both shapes when the file was written by a
    network of another architecture; float32/float64 files are cast to this network's dtype.
    """
    base = _base_path(path)
    file = base.with_name(base.name + ".safetensors")
    try:
        tensors = st_load(file.read_bytes())
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own error type on corrupt files
        msg = f"cannot read parameters from {str(file)!r}: {exc}"
        raise ValueError(msg) from None
    expected = named_parameters(net)
    missing = sorted(set(expected) - set(tensors), key=_tensor_order)
    extra = sorted(set(tensors) - set(expected), key=_tensor_order)
    if missing or extra:
        msg = (
            f"parameters in {str(file)!r} do not match {net!r}: missing {missing}, "
            f"unexpected {extra}. Load it with `Network.load` to get its own architecture."
        )
        raise ValueError(msg)
    for name, view in expected.items():
        if tensors[name].shape != view.shape:
            _, i, kind = name.split(".")
            msg = (
                f"{kind} of layer {i} ({net.layers[int(i)]!r}) has shape {view.shape} "
                f"(replicas, in, out) in this network but {tensors[name].shape} "
                f"in {str(file)!r}"
            )
            raise ValueError(msg)
    for name, view in expected.items():
        view[:] = tensors[name]


def named_parameters(net: Network) -> dict[str, np.ndarray]:
    """The safetensors keys and the parameter views they hold, in layer order."""
    named = {}
    for i, layer in enumerate(net.layers):
        named[f"layers.{i}.kernel"] = layer.kernel
        named[f"layers.{i}.bias"] = layer.bias
    return named  # type: ignore[return-value]


def _tensor_order(name: str) -> tuple[int, str]:
    parts = name.split(".")
    return (int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else -1, name)


def _check_config_against_file(config: Any, file: Path) -> None:
    """Raise ``ValueError`` when the architecture does not describe the tensors in ``file``.

    Reads only the safetensors header (shapes), so an absurd ``units`` or ``n_inputs`` in a
    hand-edited JSON is reported instead of allocated.
    """
    try:
        with safe_open(file, framework="numpy") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error type on corrupt files
        msg = f"cannot read parameters from {str(file)!r}: {exc}"
        raise ValueError(msg) from None
    try:
        width = check_scalar(config["n_inputs"], "n_inputs", integer=True, min_val=1)
        replicas = check_scalar(config.get("replicas", 1), "replicas", integer=True, min_val=1)
        layers = list(config["layers"])
        for i, layer in enumerate(layers):
            units = check_scalar(layer["units"], f"layers[{i}].units", integer=True, min_val=1)
            want = {
                f"layers.{i}.kernel": (replicas, width, units),
                f"layers.{i}.bias": (replicas, 1, units),
            }
            for name, shape in want.items():
                if shapes.get(name, shape) != shape:
                    msg = (
                        f"the architecture gives {name} the shape {shape} (replicas, in, out), "
                        f"but {str(file)!r} holds {shapes[name]}"
                    )
                    raise ValueError(msg)
            width = units
    except (KeyError, TypeError) as exc:
        msg = f"invalid network description for {str(file)!r}: missing or bad {exc}"
        raise ValueError(msg) from None


def _base_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
