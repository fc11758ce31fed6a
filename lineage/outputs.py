"""Safe outputs: one policy for every file a command writes, checked before the work and published race-free.

A command that runs for minutes must not lose its work at the end because an output path is
wrong, and must never destroy its own input or anything that is not a plain file. The policy:

- **Checked before any work** (`check_output`): the path is not empty; it is not a symbolic link
  (we never write through one); if it exists it is a regular file (a device, a FIFO, a socket or a
  folder is refused, even with `--overwrite`); it is not an input of the run, nor another output
  of the same run (`check_distinct`); it exists only if the command was given `--overwrite`; no
  part of the path above it is a regular file; its folder accepts a new file (probed).
- **Written whole** (`write_atomic`): the content goes to a temporary file in the same folder,
  flushed to disk, then published. Without `--overwrite` the publication is no-clobber
  (`os.link`, which fails if the target appeared while we worked: a second run, or another
  program); with it, `os.replace`. Either way a crash leaves the old file or the new one.
- **Modes**: a new file gets the mode the umask gives (normally 0644); a replaced file keeps its mode.
- **Failures**: the temporary file is removed on any exception and on SIGTERM. A full disk or a
  file-size limit is one line naming the path; the content is then kept in a recovery folder
  under the system's temporary folder when that works, and the line says where.
- **Several files** (`write_files_atomic`, e.g. `--save-recommendations`): all are written to
  temporary files first, then published together; if one cannot be published, the ones already
  published are taken back (replaced files restored), so the folder holds all or none.

Every failure raises `OutputError` (a ValueError) with one line that names the option and path.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Mapping

__all__ = ["OutputError", "check_output", "check_distinct", "check_output_dir", "write_atomic",
           "write_text_atomic", "write_files_atomic", "text_writer", "json_text"]

Writer = Callable[[str], None]  # writes the whole content to the temporary path it is given
DISK_FULL = (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))


class OutputError(ValueError):
    """An output path that cannot or must not be written. The message names the option and path."""


def _where(path, option: str | None) -> str:
    return f"{option} {path}" if option else str(path)


def _kind(mode: int) -> str | None:
    """The name of a file kind we refuse to replace, or None for a regular file."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _refuse_special(path: Path, where: str) -> bool:
    """Refuse a symlink or an existing non-regular file at `path`; True if a regular file is there."""
    try:
        status = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False  # absent (a file above it is reported by check_output)
    except OSError as error:
        raise OutputError(f"{where}: cannot inspect the path ({error.strerror}); choose another path") from None
    if stat.S_ISLNK(status.st_mode):
        raise OutputError(f"{where}: is a symbolic link; outputs are never written through a link; "
                          f"give the real file's path")
    kind = _kind(status.st_mode)
    if kind is not None:
        raise OutputError(f"{where}: is {kind}, not a regular file; it is never replaced, even with "
                          f"--overwrite; choose a file path")
    return True


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(path: Path) -> Path:
    for parent in path.absolute().parents:
        if os.path.lexists(parent):
            return parent
    return Path("/")  # pragma: no cover - the root always exists


def check_output(path, option: str, inputs: Iterable = (), overwrite: bool = False) -> Path:
    """Check one output file path before any work (see the module docstring); returns it as a Path."""
    if path is None or not str(path).strip():
        raise OutputError(f"{option}: the path is empty; give a file path")
    path = Path(path)
    where = _where(path, option)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise OutputError(f"{where}: this is an input file of the run ({source}); writing it would destroy "
                              f"the data; choose another path")
    exists = _refuse_special(path, where)
    if exists and not overwrite:
        raise OutputError(f"{where}: file exists; pass --overwrite to replace it, or choose another path")
    folder = _nearest_existing(path)
    if not folder.is_dir():
        raise OutputError(f"{where}: {folder} is a file, not a folder, so nothing can be written under it")
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
    if directory is None or not str(directory).strip():
        raise OutputError(f"{option}: the path is empty; give a folder path")
    directory = Path(directory)
    if os.path.islink(directory):
        raise OutputError(f"{option} {directory}: is a symbolic link; give the real folder's path")
    if os.path.lexists(directory) and not directory.is_dir():
        kind = _kind(os.lstat(directory).st_mode) or "a file"
        raise OutputError(f"{option} {directory}: is {kind}, not a folder; expected a folder path")
    for name in names:
        check_output(directory / name, option, inputs, overwrite)
    return directory


# ---- writing ---------------------------------------------------------------------------------
def _umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    """A replaced file keeps its mode; a new one gets 0666 less the umask."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(os.lstat(path).st_mode)
    return 0o666 & ~_umask()


@contextlib.contextmanager
def _sigterm_raises():
    """Turn SIGTERM into SystemExit while a file is written, so `finally` blocks remove temporaries."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _make_parents(path: Path) -> list[Path]:
    """Create the missing folders above `path`; returns them, deepest first (to take back on failure)."""
    missing = [parent for parent in path.absolute().parents if not os.path.lexists(parent)]
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing


def _stage(path: Path, write: Writer) -> str:
    """Write the content to a temporary file beside `path`, flushed and with its final mode."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as flushed:
            os.fsync(flushed.fileno())
        os.chmod(temporary, _final_mode(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    return temporary


def _publish(temporary: str, path: Path, overwrite: bool, where: str) -> None:
    """Move the finished temporary file to `path`: no-clobber without overwrite, replace with it."""
    exists = _refuse_special(path, where)  # again: the path may have changed while we worked
    if overwrite:
        os.replace(temporary, path)
        return
    if exists:
        raise OutputError(f"{where}: the file appeared while the run was working; it was not replaced "
                          f"(pass --overwrite to replace it)")
    try:
        os.link(temporary, path)  # fails if the target exists: no check-then-write race
    except FileExistsError:
        raise OutputError(f"{where}: the file appeared while the run was working; it was not replaced "
                          f"(pass --overwrite to replace it)") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # no hard links here: claim it
        os.close(descriptor)
        os.replace(temporary, path)
        return
    os.remove(temporary)


def write_atomic(path, write: Writer, overwrite: bool = False, option: str | None = None) -> None:
    """Call `write(temporary_path)` to write the file, then publish it at `path` (module docstring)."""
    write_files_atomic({path: (option, write)}, overwrite=overwrite)


def text_writer(text: str) -> Writer:
    """A writer of UTF-8 text, for write_atomic and write_files_atomic."""
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    return write


def write_text_atomic(path, text: str, overwrite: bool = False, option: str | None = None) -> None:
    """Write a text file atomically (UTF-8)."""
    write_atomic(path, text_writer(text), overwrite=overwrite, option=option)


def write_files_atomic(files: Mapping, overwrite: bool = False) -> None:
    """Write several files all or nothing: {path: (option or None, write(temporary_path))}."""
    files = {Path(path): entry for path, entry in files.items()}
    staged: dict[Path, str] = {}
    created: list[Path] = []  # folders this call made, removed again if nothing was published
    with _sigterm_raises():
        try:
            for path, (option, write) in files.items():
                _refuse_special(path, _where(path, option))
                created += _make_parents(path)
                staged[path] = _stage(path, write)
            _publish_all(staged, overwrite, {path: option for path, (option, _) in files.items()})
            created = []
        except OSError as error:
            raise _disk_error(error, files, staged) from None
        finally:
            for temporary in staged.values():
                with contextlib.suppress(OSError):
                    os.remove(temporary)
            for folder in created:
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # only if still empty


def _publish_all(staged: dict[Path, str], overwrite: bool, options: dict) -> None:
    """Publish every staged file; on any failure, take back the ones already published."""
    done: list[tuple[Path, str | None]] = []  # (path, backup of the file it replaced, or None)
    try:
        for path, temporary in staged.items():
            backup = None
            if overwrite and os.path.lexists(path) and len(staged) > 1:
                backup = temporary + ".old"
                os.link(path, backup)  # the old content stays reachable until all are published
            _publish(temporary, path, overwrite, _where(path, options[path]))
            done.append((path, backup))
    except BaseException:
        for path, backup in reversed(done):
            with contextlib.suppress(OSError):
                os.replace(backup, path) if backup else os.remove(path)
        raise
    finally:
        for _, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.remove(backup)


def _recover(files: dict) -> str:
    """After a full disk or size limit: try to keep the content in a recovery folder; say what happened."""
    folder = None
    try:
        folder = tempfile.mkdtemp(prefix="twotower-recovered-")
        for path, (_, write) in files.items():
            write(os.path.join(folder, path.name))
    except OSError as error:
        if folder is not None:
            with contextlib.suppress(OSError):
                for leftover in Path(folder).iterdir():
                    leftover.unlink()
                os.rmdir(folder)
        return f"a copy could not be kept in {tempfile.gettempdir()} either ({error.strerror or error})"
    return f"the content was kept in {folder}"


def _disk_error(error: OSError, files: dict, staged: dict) -> OutputError:
    """One line for a write that failed: which path, why, and where the content went if it was kept."""
    failed = next((path for path in files if path not in staged), next(iter(files)))
    where = _where(failed, files[failed][0])
    reason = error.strerror or str(error)
    if error.errno in DISK_FULL:
        return OutputError(f"{where}: could not be written ({reason}: the disk is full or a file-size limit "
                           f"was reached); nothing was written there; {_recover(files)}")
    return OutputError(f"{where}: could not be written ({reason}); nothing was written there")


# ---- strict JSON -------------------------------------------------------------------------------
def _finite(value):
    """NaN and infinities become None (JSON null), everywhere in a nested value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        return _finite(value.item())  # numpy scalars
    return value


def json_text(value, indent: int | None = 2) -> str:
    """Strict JSON (RFC 8259): a NaN or infinite number is written as null, never as bare NaN."""
    return json.dumps(_finite(value), indent=indent, allow_nan=False) + "\n"
