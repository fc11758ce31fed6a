"""Download a MovieLens release from GroupLens, check it, and unpack it safely.

    from lineage.datasets.download import download_movielens
    folder = download_movielens("ml-100k", "data")      # -> data/ml-100k/ with u.data, u.item, ...

MovieLens may not be redistributed (GroupLens licence), so the suite never ships it: this function
fetches the official zip for you, the way implicit's `datasets` module fetches its own files.

Checksum policy. GroupLens publishes an MD5 sum next to each zip (`ml-100k.zip.md5`); that is the
only published digest, so it is what a plain call checks (the table `RELEASES`, also listed in
data/README.md). Pass `expected_sha256=` (for a mirror, or a copy you checksummed yourself) and
the SHA-256 is checked instead. A zip whose digest differs is refused with a one-line error and
deleted.

Bad arguments are refused before anything is downloaded, each with a one-line error naming the
path: a `dest` that is a file, a `<name>.zip` path that is a folder. A SHA-256 may be given in
upper case or with surrounding spaces (as copied from a checksum file). A file that matches its
checksum but is not a zip is refused too, naming it.

Nothing partial is ever left behind: the download streams into a temporary file in `dest` and is
renamed to `<name>.zip` only once it is complete and its checksum matches; the zip is extracted
into a temporary folder, renamed to `<name>/` only when every member is out. Members whose path
would land outside that folder (absolute paths, `..`, links) are refused.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from lineage.data import DataError

CHUNK_BYTES = 1 << 16  # read the response 64 KiB at a time


@dataclass(frozen=True)
class Release:
    """One downloadable MovieLens release."""

    url: str  # the official GroupLens zip
    md5: str  # the digest GroupLens publishes next to it (<url>.md5)
    folder: str  # the folder the zip unpacks to
    required: tuple[str, ...]  # files that must be in that folder


RELEASES = {
    "ml-100k": Release(url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                       md5="0e33842e24a9c977be4e0107933c0723", folder="ml-100k",
                       required=("u.data", "u.item", "u.user")),
}


class DownloadError(DataError):
    """A download that failed, was truncated, or does not match its checksum."""


def download_movielens(name: str, dest, *, url: str | None = None, expected_sha256: str | None = None,
                       progress: bool = True, timeout: float = 60.0) -> Path:
    """Download release `name` (see RELEASES) into folder `dest` and return the unpacked folder.

    If `dest/<folder>` already holds the release's files, nothing is downloaded. `url` replaces
    the official address (a mirror, or a local server in tests). `expected_sha256` replaces the
    published MD5 as the checksum to verify. `progress` shows a tqdm bar."""
    if name not in RELEASES:
        raise ValueError(f"download_movielens: unknown release {name!r}; choose one of {', '.join(RELEASES)}")
    release = RELEASES[name]
    if expected_sha256 is not None:
        algorithm, expected = "sha256", _normalised_sha256(expected_sha256)
    else:
        algorithm, expected = "md5", release.md5
    dest = Path(dest)
    folder = dest / release.folder
    if all((folder / file).is_file() for file in release.required):
        return folder
    if folder.exists():  # never overwrite a folder we did not make
        raise DownloadError(folder, f"exists but lacks {', '.join(f for f in release.required if not (folder / f).is_file())}; "
                                    "move it away (or complete it) and call again")
    zip_path = dest / f"{name}.zip"
    _prepare_destination(dest, zip_path)
    _download_verified(url or release.url, zip_path, algorithm, expected, progress, timeout)
    _extract_safely(zip_path, dest, release)
    return folder


def _normalised_sha256(text) -> str:
    """A SHA-256 as 64 lower-case hex digits: surrounding spaces and upper case are accepted."""
    digest = str(text).strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"download_movielens: expected_sha256 must be 64 hexadecimal digits, got {text!r}")
    return digest


def _prepare_destination(dest: Path, zip_path: Path) -> None:
    """Create folder `dest` if needed; refuse a `dest` that is a file or a `zip_path` that is a folder
    (before anything is downloaded), with one line naming the path."""
    if dest.exists() and not dest.is_dir():
        raise DownloadError(dest, "is a file, not a folder; pass the folder to download into")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. a parent that is a file, or no permission
        raise DownloadError(dest, f"cannot create this folder ({error.strerror or error})") from None
    if zip_path.exists() and not zip_path.is_file():
        raise DownloadError(zip_path, "is a folder, not the zip file; move it away and call again")


def _download_verified(url: str, target: Path, algorithm: str, expected: str, progress: bool, timeout: float) -> None:
    """Stream `url` into a temporary file next to `target`; rename it to `target` only when it is
    complete and its digest is `expected`."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as error:  # e.g. no permission to write in the folder
        raise DownloadError(target.parent, f"cannot write in this folder ({error.strerror or error})") from None
    digest = hashlib.new(algorithm)
    received = 0
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length is not None else None
                    with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                        while True:
                            chunk = response.read(CHUNK_BYTES)
                            if not chunk:
                                break
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
            except http.client.IncompleteRead as error:
                received += len(error.partial)
                raise DownloadError(url, f"download truncated: the connection closed after {received:,} of "
                                         f"{received + (error.expected or 0):,} bytes; nothing was kept") from None
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise DownloadError(url, f"download failed ({reason}); nothing was kept") from None
        if total is not None and received != total:
            raise DownloadError(url, f"download truncated: got {received:,} of {total:,} bytes; nothing was kept")
        actual = digest.hexdigest()
        if actual != expected:
            raise DownloadError(url, f"{algorithm} checksum {actual} does not match the expected {expected}; "
                                     "the file was deleted (a corrupted download, or a different file at this address)")
        try:
            os.replace(temporary, target)
        except OSError as error:  # e.g. the zip's path became a folder meanwhile
            raise DownloadError(target, f"cannot be written ({error.strerror or error}); nothing was kept") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    """`zip_path` opened as a zip archive, or a DownloadError naming it when it is not one."""
    try:
        return zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise DownloadError(zip_path, "is not a zip archive (yet it matches the expected checksum: is the "
                                      "address or the checksum one of a different file?)") from None


def _extract_safely(zip_path: Path, dest: Path, release: Release) -> None:
    """Unpack `zip_path` into `dest/<release.folder>`, refusing any member that would land outside
    it; the folder appears only once every member is out."""
    staging = Path(tempfile.mkdtemp(prefix=f".{release.folder}.", dir=dest))
    try:
        with _open_zip(zip_path) as archive:
            for member in archive.infolist():
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
                if (not parts or parts[0] != release.folder or ".." in parts or member.filename.startswith("/")
                        or ":" in parts[0] or is_link):
                    raise DownloadError(zip_path, f"unsafe or unexpected member {member.filename!r}: every member "
                                                  f"must be a plain file or folder under {release.folder}/")
            try:
                archive.extractall(staging)
            except (zipfile.BadZipFile, zlib.error, EOFError) as error:  # a damaged member
                raise DownloadError(zip_path, f"the zip is damaged ({error})") from None
        missing = [file for file in release.required if not (staging / release.folder / file).is_file()]
        if missing:
            raise DownloadError(zip_path, f"the zip has no {', '.join(missing)} under {release.folder}/")
        os.replace(staging / release.folder, dest / release.folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
