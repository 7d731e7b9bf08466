"""Atomic file writes: a reader never sees a half-written output."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def slug(name: str) -> str:
    """A file-name-safe form of a strategy, generator or grid-cell name."""
    return "".join(ch if ch.isalnum() else "_" for ch in str(name)).strip("_")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    The temporary file lives in the destination folder so the rename is atomic. Under ``torchrun`` only
    rank 0 writes; on the other ranks this is a no-op.
    """
    path = Path(path)
    if os.environ.get("RANK", "0") != "0":
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask like open() does
        os.replace(tmp_path, path)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        if not isinstance(exc, OSError) and _storage_full(exc):  # e.g. safetensors' error around the OS's
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from exc
        raise
    return path


def _storage_full(exc: BaseException) -> bool:
    """A library's own exception that wraps the OS's 'no space left' (safetensors reports ``code: 28``)."""
    text = str(exc)
    return "code: 28" in text or "StorageFull" in text or "No space left" in text


def _remove_orphans(path: Path) -> None:
    """Temporary files of earlier writes of ``path`` whose process is gone (killed mid-write)."""
    for orphan in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = orphan.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            orphan.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def glob_escape(name: str) -> str:
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def atomic_folder(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(staging_folder)`` then rename the folder onto ``path`` (which must be missing or empty):
    a reader sees no folder or the whole one, never part of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(staging)
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; folders follow the umask like mkdir does
        if path.is_dir():
            path.rmdir()  # empty, or this raises and nothing is replaced
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _umask() -> int:
    """The process umask (read by setting and restoring it: POSIX has no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    """UTF-8; a file name that is not valid UTF-8 (surrogate-escaped) is written backslash-escaped."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", errors="backslashreplace"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def safe_name(name: object, fallback: str = "item") -> str:
    """A single, harmless path component for a user-controlled name (class names, file stems): letters,
    digits, '-', '_' and '.', never empty, '.' or '..', so no output can escape its folder."""
    text = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name)).strip()
    return fallback if text.strip(".") == "" else text


def distinct(candidates: list[str], reserved: tuple[str, ...] = (), suffixes: bool = True) -> list[str]:
    """``candidates`` made distinct, in order: a name equal (ignoring case, for case-insensitive file systems)
    to an earlier one or to a ``reserved`` one becomes ``name_2``, ``name_3``, ... (before the file suffix
    with ``suffixes``)."""
    taken = {r.casefold() for r in reserved}
    chosen = []
    for name in candidates:
        split = suffixes and "." in name.strip(".")
        stem, dot, suffix = name.rpartition(".") if split else (name, "", "")
        candidate, n = name, 2
        while candidate.casefold() in taken:
            candidate = f"{stem}_{n}{dot}{suffix}" if dot else f"{name}_{n}"
            n += 1
        taken.add(candidate.casefold())
        chosen.append(candidate)
    return chosen


def class_folders(class_names: list[str], reserved: tuple[str, ...] = ()) -> list[str]:
    """One folder name per class that reads back as a class with ``folder:``: harmless (``safe_name``), not
    hidden (no leading '.'), distinct, and none of ``reserved`` (the names ``folder:`` gives a meaning)."""
    names = [safe_name(name, f"class_{i}").lstrip(".") or f"class_{i}" for i, name in enumerate(class_names)]
    return distinct(names, reserved, suffixes=False)


def spreadsheet_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (a leading =, +, -, @, tab or CR is quoted)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def check_output_folder(out: str | Path, inputs: tuple[str | Path, ...] = (), flag: str = "--out") -> Path:
    """``out`` as a folder to write into: not an existing file, and neither inside nor around an input."""
    from genclf.errors import ConfigError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(flag, f"{out} is an existing file; expected a folder")
    resolved = out.resolve()
    for source in inputs:
        source = Path(source).resolve()
        folder = source if source.is_dir() else source.parent
        if resolved == folder or folder in resolved.parents or (source.is_dir() and resolved in source.parents):
            raise ConfigError(flag, f"{out} overlaps the input {source}; write the outputs to a separate folder")
    return out


@contextlib.contextmanager
def exclusive_lock(lock_file: str | Path) -> Iterator[None]:
    """An exclusive lock held across processes for the block: POSIX ``flock`` on ``lock_file`` (created, with
    its folder, when missing). Where ``fcntl`` is missing or the file cannot be opened there is no lock: the
    callers' stores stay correct in one process, only concurrent writers need it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: genclf runs one process there
        yield
        return
    lock_file = Path(lock_file)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_file, "a")  # noqa: SIM115  (held for the block)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
