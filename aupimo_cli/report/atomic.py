"""Atomic replacement of a whole results folder.

Results are written into a staging folder beside the target (``.<name>.tmp-<pid>``) and renamed into place
only once complete. Replacing an existing folder uses Linux's ``renameat2(RENAME_EXCHANGE)``, which swaps the
two folders in one step, so a kill at any moment leaves either the complete old results or the complete new
ones at the target path. Where that call is unavailable, the old folder is first moved aside to
``.<name>.old-<pid>`` and the next run puts it back if a kill struck between the two renames. Stale staging
folders of dead processes are removed by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import InputError
from .manifest import refuse_foreign, refuse_unsafe_target

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where the system can't."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(error, os.strerror(error), str(first), None, str(second))


def recover_and_clean(target: Path) -> None:
    """Remove stale staging folders of dead runs beside `target`, and restore old results a kill left aside."""
    parent = target.parent
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        match = _STAGING.match(entry.name)
        if not match or match["name"] != target.name or _pid_alive(int(match["pid"])):
            continue
        if match["kind"] == "old" and not target.exists():
            # A kill struck between moving the old results aside and moving the new ones in.
            os.rename(entry, target)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def check_target(target: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> None:
    """Refuse, before any work, a target that may not be written: one that is or holds an input, lies inside
    one, or is the current, home or root folder (whatever the flags); a file; an existing folder without
    `overwrite`; with `overwrite`, a folder holding anything aupimo did not write (see `manifest.ownership`).
    """
    refuse_unsafe_target(target, inputs)
    if target.exists() and not target.is_dir():
        raise InputError(f"--out {target} is a file, not a folder; choose another --out.")
    if target.exists() and not overwrite:
        raise InputError(
            f"Results folder {target} already exists; pass --overwrite to replace it, or choose another --out."
        )
    if target.exists():
        refuse_foreign(target)
    parent = target.parent
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"Cannot write results beside {target}: {parent} is not writable; choose another --out.")


@contextlib.contextmanager
def staged_folder(target: Path, overwrite: bool, inputs: Sequence[Path] = ()) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces `target` as one step, on failure it vanishes.

    Raises:
        InputError: `target` may not be written (see `check_target`), or its parent can't be created.
    """
    target = Path(os.path.abspath(target))
    recover_and_clean(target)
    check_target(target, overwrite, inputs)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"Cannot create the results folder's parent {target.parent}: {error.strerror}.") from error
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        _fsync_tree(staging)
        if target.exists():
            if not overwrite:  # created by someone else while we computed
                raise InputError(f"Results folder {target} appeared while computing; pass --overwrite to replace it.")
            refuse_foreign(target)  # someone may have put a file there while we computed
            if _exchange(staging, target):
                shutil.rmtree(staging, ignore_errors=True)
            else:
                aside = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.rename(target, aside)
                os.rename(staging, target)
                shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    """Flush the staged files to disk before they become visible under the target name."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it and one rename: a kill leaves the old file or
    the new one, never a part."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
