"""Safe outputs: every file a command writes is checked before any work starts, and written whole.

A command that runs for minutes must not lose its work at the end because an output path is
wrong, and must never destroy its own input. So, before loading or fitting anything, every output
path is checked (`check_output`):

- it is not one of the input files (compared after resolving links, and by inode when both exist),
  nor another output of the same run (`check_distinct`: the second write would replace the first);
- it does not exist yet, unless the command was given `--overwrite`;
- it is not a directory, and no part of the path above it is a regular file;
- its folder (or the nearest folder that exists) accepts a new file (probed by creating one).

Failures raise `OutputError` with one line that names the option. Writing goes through
`write_atomic`: a temporary file in the same folder, flushed to disk, then renamed over the
target, so a crash or a full disk leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable


class OutputError(ValueError):
    """An output path that cannot or must not be written. The message names the option."""


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")  # pragma: no cover - the root always exists


def check_output(path, option: str, inputs: Iterable = (), overwrite: bool = False) -> Path:
    """Check one output file path (see the module docstring); returns it as a Path."""
    path = Path(path)
    where = f"{option} {path}"
    for source in inputs:
        if _same_file(path, Path(source)):
            raise OutputError(f"{where}: this is an input file of the run ({source}); writing it would destroy "
                              f"the data; choose another path")
    if path.is_dir():
        raise OutputError(f"{where}: is a directory; expected a file path")
    if path.exists() and not overwrite:
        raise OutputError(f"{where}: file exists; pass --overwrite to replace it, or choose another path")
    folder = _nearest_existing(path)
    if not folder.is_dir():
        raise OutputError(f"{where}: {folder} is a file, so nothing can be written under it; expected a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
    except OSError as error:
        raise OutputError(f"{where}: cannot write in {folder} ({error.strerror or error}); "
                          f"choose a writable folder") from None
    os.close(handle)
    os.remove(probe)
    return path


def check_distinct(outputs: Iterable[tuple[str, object]]) -> None:
    """Refuse two outputs of one run, given as (option, path) pairs, that name the same file."""
    seen: list[tuple[str, Path]] = []
    for option, path in outputs:
        for earlier_option, earlier in seen:
            if _same_file(Path(path), earlier):
                raise OutputError(f"{option} {path}: the same file as {earlier_option} {earlier}; "
                                  f"choose another path")
        seen.append((option, Path(path)))


def check_output_dir(directory, option: str, names: Iterable[str], inputs: Iterable = (),
                     overwrite: bool = False) -> Path:
    """Check a folder that will receive the files `names` (each checked as with check_output)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{option} {directory}: is a file; expected a folder")
    for name in names:
        check_output(directory / name, option, inputs, overwrite)
    return directory


def write_atomic(path, write: Callable[[str], None]) -> None:
    """Call `write(temporary_path)` to write the file, then rename it over `path`.

    The temporary file is in the same folder (a rename is atomic only within one file system) and
    is removed if `write` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as flushed:
            os.fsync(flushed.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def write_text_atomic(path, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    write_atomic(path, write)
