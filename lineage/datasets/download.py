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
    dest = Path(dest)
    folder = dest / release.folder
    if all((folder / file).is_file() for file in release.required):
        return folder
    if folder.exists():  # never overwrite a folder we did not make
        raise DownloadError(folder, f"exists but lacks {', '.join(f for f in release.required if not (folder / f).is_file())}; "
                                    "move it away (or complete it) and call again")
    dest.mkdir(parents=True, exist_ok=True)
    url = url or release.url
    zip_path = dest / f"{name}.zip"
    if expected_sha256 is not None:
        algorithm, expected = "sha256", expected_sha256.lower()
    else:
        algorithm, expected = "md5", release.md5
    _download_verified(url, zip_path, algorithm, expected, progress, timeout)
    _extract_safely(zip_path, dest, release)
    return folder


def _download_verified(url: str, target: Path, algorithm: str, expected: str, progress: bool, timeout: float) -> None:
    """Stream `url` into a temporary file next to `target`; rename it to `target` only when it is
    complete and its digest is `expected`."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
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
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _extract_safely(zip_path: Path, dest: Path, release: Release) -> None:
    """Unpack `zip_path` into `dest/<release.folder>`, refusing any member that would land outside
    it; the folder appears only once every member is out."""
    staging = Path(tempfile.mkdtemp(prefix=f".{release.folder}.", dir=dest))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
                if (not parts or parts[0] != release.folder or ".." in parts or member.filename.startswith("/")
                        or ":" in parts[0] or is_link):
                    raise DownloadError(zip_path, f"unsafe or unexpected member {member.filename!r}: every member "
                                                  f"must be a plain file or folder under {release.folder}/")
            archive.extractall(staging)
        missing = [file for file in release.required if not (staging / release.folder / file).is_file()]
        if missing:
            raise DownloadError(zip_path, f"the zip has no {', '.join(missing)} under {release.folder}/")
        os.replace(staging / release.folder, dest / release.folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
