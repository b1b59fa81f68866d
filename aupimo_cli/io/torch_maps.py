"""Anomaly maps saved as torch tensors (``.pt``), read without unpickling anything but a tensor.

``torch.save`` writes a zip archive: ``<name>/data.pkl``, a pickle that rebuilds the tensor from storages,
and each storage's raw bytes in ``<name>/data/<key>``. `load_pt` reads that pickle with an unpickler that
resolves only the few names a tensor needs (``torch._utils._rebuild_tensor_v2``, the storage types,
``collections.OrderedDict``); any other name is refused before anything is built, so a ``.pt`` file can
never run code here. It needs no torch: the storages are read as numpy arrays and the tensor is rebuilt
from its offset, shape and strides. Files in torch's legacy (pre-1.6, non-zip) format are read by
``torch.load(weights_only=True)`` when torch is installed (the ``torch`` extra), else refused with that
advice.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError

TORCH_MISSING = "pip install 'aupimo-cli[torch]'"
# torch's storage types, by the name the pickle gives them, and their numpy dtypes (bfloat16 is widened).
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype(np.float32), "DoubleStorage": np.dtype(np.float64), "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": np.dtype(np.uint16), "LongStorage": np.dtype(np.int64), "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16), "CharStorage": np.dtype(np.int8), "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
}  # fmt: skip


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor(
    storage: NDArray[Any], offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> NDArray[Any]:
    """The tensor's values: `size` elements from `storage` at `offset` with `stride` (in elements), copied."""
    if any(n < 0 for n in size) or any(s < 0 for s in stride) or len(size) != len(stride) or offset < 0:
        raise ValueError(f"a tensor of size {size} and stride {stride} at offset {offset}")
    if all(n > 0 for n in size):
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= storage.size:
            raise ValueError(f"a tensor reaching element {last} of a storage of {storage.size}")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * storage.itemsize for s in stride), writeable=False
    )
    return np.array(view)


class _TensorUnpickler(pickle.Unpickler):
    """Resolves only the names a tensor's pickle holds; storages come from the archive."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, path: Path, budget: int | None) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.path, self.budget = archive, prefix, path, budget
        order = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in archive.namelist() else "little"
        self.big_endian = order.strip() == "big"

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise InputError(
            f"{self.path} holds {module}.{name}, not a tensor: a .pt map must hold one tensor (torch.save(tensor, "
            "path)); nothing else is unpickled"
        )

    def persistent_load(self, pid: Any) -> NDArray[Any]:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise InputError(f"{self.path} is not a tensor saved by torch.save (an unknown storage reference)")
        storage_type, key = pid[1], str(pid[2])
        name = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise InputError(f"{self.path} is truncated: its storage {key} is missing") from None
        if self.budget is not None and info.file_size > self.budget:
            raise InputError(
                f"{self.path} holds a tensor of {info.file_size} bytes, more than the {self.budget} allowed per map "
                "(--max-memory)"
            )
        raw = self.archive.read(name)
        values = np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder(">" if self.big_endian else "<"))
        if storage_type.name == "BFloat16Storage":  # bfloat16 is the top half of a float32
            values = (values.astype(np.uint32) << 16).view(np.float32)
        return values


def load_pt(data: bytes, path: Path, budget: int | None = None) -> NDArray[Any]:
    """The tensor of a ``.pt`` file as a numpy array (see the module's docstring).

    Raises:
        InputError: not a tensor file, a pickle naming anything but a tensor's parts, a corrupt archive, or a
            legacy-format file without torch installed.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return _load_legacy(data, path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("data.pkl") and name.count("/") == 1]
            if len(pickles) != 1:
                raise InputError(f"{path} is a zip archive but not a tensor saved by torch.save (no <name>/data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]
            value = _TensorUnpickler(archive.read(pickles[0]), archive, prefix, path, budget).load()
    except InputError:
        raise
    except (zipfile.BadZipFile, pickle.UnpicklingError, ValueError, TypeError, EOFError, KeyError) as error:
        raise InputError(f"{path} is a corrupt .pt file ({type(error).__name__}: {error}); save it again") from None
    if not isinstance(value, np.ndarray):
        raise InputError(
            f"{path} holds a {type(value).__name__}, not a tensor: save each map as torch.save(tensor, path)"
        )
    return value


def _load_legacy(data: bytes, path: Path) -> NDArray[Any]:
    """A ``.pt`` file in torch's legacy format, through torch itself (weights only)."""
    try:
        import torch
    except ImportError:
        raise InputError(
            f"{path} is in torch's legacy (pre-1.6) format, which only torch reads: {TORCH_MISSING}, or save the "
            "map again with a current torch"
        ) from None
    try:
        tensor = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as error:  # torch raises many types for a bad file
        raise InputError(f"{path} cannot be read by torch.load(weights_only=True) ({error})") from None
    if not isinstance(tensor, torch.Tensor):
        raise InputError(f"{path} holds a {type(tensor).__name__}, not a tensor")
    return np.asarray(tensor.detach().float().numpy())
