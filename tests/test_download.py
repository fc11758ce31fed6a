"""download_movielens against a local HTTP server on 127.0.0.1 serving a zip built by the test:
the happy path, a bad checksum, a truncated download, an unsafe zip; never a partial file."""
from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from lineage.datasets.download import RELEASES, DownloadError, download_movielens

FILES = {"ml-100k/u.data": "1\t1\t5\t874965758\n2\t1\t3\t876893171\n",
         "ml-100k/u.item": "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
         "ml-100k/u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n"}


def build_zip(path: Path, files: dict[str, str]) -> bytes:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path.read_bytes()


class Server:
    """Serves `payload` at /ml-100k.zip; `truncate_to` bytes only, with the full Content-Length."""

    def __init__(self, payload: bytes, truncate_to: int | None = None):
        self.payload, self.truncate_to, self.requests = payload, truncate_to, 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests += 1
                if self.path != "/ml-100k.zip":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(server.payload)))
                self.end_headers()
                self.wfile.write(server.payload[: server.truncate_to])
                self.close_connection = True

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/ml-100k.zip"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_downloads_checks_and_extracts(tmp_path):
    payload = build_zip(tmp_path / "served.zip", FILES)
    dest = tmp_path / "data"
    with Server(payload) as server:
        folder = download_movielens("ml-100k", dest, url=server.url,
                                    expected_sha256=hashlib.sha256(payload).hexdigest())  # with the progress bar
        assert folder == dest / "ml-100k"
        for name, text in FILES.items():
            assert (dest / name).read_text() == text
        assert (dest / "ml-100k.zip").read_bytes() == payload
        assert sorted(p.name for p in dest.iterdir()) == ["ml-100k", "ml-100k.zip"]  # no temporary files left
        # a second call finds the files and does not download again
        assert download_movielens("ml-100k", dest, url=server.url, expected_sha256="0" * 64) == folder
        assert server.requests == 1


def test_bad_checksum_is_refused_and_nothing_is_kept(tmp_path):
    payload = build_zip(tmp_path / "served.zip", FILES)
    dest = tmp_path / "data"
    with Server(payload) as server, pytest.raises(DownloadError) as error:
        download_movielens("ml-100k", dest, url=server.url, expected_sha256="0" * 64, progress=False)
    message = str(error.value)
    assert "\n" not in message and "sha256 checksum" in message and hashlib.sha256(payload).hexdigest() in message
    assert list(dest.iterdir()) == []


def test_without_a_sha256_the_published_md5_is_checked(tmp_path):
    payload = build_zip(tmp_path / "served.zip", FILES)  # not the official zip, so its md5 differs
    dest = tmp_path / "data"
    with Server(payload) as server, pytest.raises(DownloadError, match=f"md5 checksum .* {RELEASES['ml-100k'].md5}"):
        download_movielens("ml-100k", dest, url=server.url, progress=False)
    assert list(dest.iterdir()) == []


def test_truncated_download_is_refused_and_nothing_is_kept(tmp_path):
    payload = build_zip(tmp_path / "served.zip", FILES)
    dest = tmp_path / "data"
    with Server(payload, truncate_to=len(payload) // 2) as server, pytest.raises(DownloadError, match="truncated"):
        download_movielens("ml-100k", dest, url=server.url, expected_sha256=hashlib.sha256(payload).hexdigest(),
                           progress=False)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("evil", ["ml-100k/../../evil.txt", "/tmp/evil.txt", "elsewhere/u.data"])
def test_members_outside_the_folder_are_refused(tmp_path, evil):
    payload = build_zip(tmp_path / "served.zip", {**FILES, evil: "gotcha"})
    dest = tmp_path / "a" / "b" / "data"
    with Server(payload) as server, pytest.raises(DownloadError, match="unsafe or unexpected member"):
        download_movielens("ml-100k", dest, url=server.url, expected_sha256=hashlib.sha256(payload).hexdigest(),
                           progress=False)
    assert not (dest / "ml-100k").exists()
    assert not any(path.name == "evil.txt" for path in tmp_path.rglob("*"))
    assert [p.name for p in dest.iterdir()] == ["ml-100k.zip"]  # the verified zip stays; no half-extracted folder


def test_unknown_release_and_unreachable_server(tmp_path):
    with pytest.raises(ValueError, match="unknown release 'ml-1b'; choose one of ml-100k"):
        download_movielens("ml-1b", tmp_path)
    with Server(b"") as server:
        missing = server.url.replace("ml-100k.zip", "nothing.zip")
        with pytest.raises(DownloadError, match="download failed"):
            download_movielens("ml-100k", tmp_path / "data", url=missing, progress=False)
    assert list((tmp_path / "data").iterdir()) == []


def test_a_file_that_matches_its_sha256_but_is_not_a_zip_is_refused(tmp_path):
    payload = b"<html>this mirror serves a web page, not a zip</html>\n"
    dest = tmp_path / "data"
    with Server(payload) as server, pytest.raises(DownloadError) as error:
        download_movielens("ml-100k", dest, url=server.url, expected_sha256=hashlib.sha256(payload).hexdigest(),
                           progress=False)
    message = str(error.value)
    assert "\n" not in message and str(dest / "ml-100k.zip") in message and "not a zip archive" in message
    assert not (dest / "ml-100k").exists()


def test_a_destination_that_is_a_file_is_refused_before_downloading(tmp_path):
    dest = tmp_path / "data"
    dest.write_text("not a folder")
    with Server(b"") as server, pytest.raises(DownloadError) as error:
        download_movielens("ml-100k", dest, url=server.url, expected_sha256="0" * 64, progress=False)
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(dest)) and "is a file, not a folder" in message
    assert server.requests == 0 and dest.read_text() == "not a folder"


def test_a_zip_path_that_is_a_folder_is_refused_before_downloading(tmp_path):
    dest = tmp_path / "data"
    (dest / "ml-100k.zip").mkdir(parents=True)
    with Server(b"") as server, pytest.raises(DownloadError) as error:
        download_movielens("ml-100k", dest, url=server.url, expected_sha256="0" * 64, progress=False)
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(dest / "ml-100k.zip")) and "is a folder" in message
    assert server.requests == 0 and [p.name for p in dest.iterdir()] == ["ml-100k.zip"]


def test_a_sha256_in_upper_case_with_surrounding_spaces_is_accepted(tmp_path):
    payload = build_zip(tmp_path / "served.zip", FILES)
    dest = tmp_path / "data"
    with Server(payload) as server:
        pasted = "  " + hashlib.sha256(payload).hexdigest().upper() + " \n"  # as copied from a checksum file
        assert download_movielens("ml-100k", dest, url=server.url, expected_sha256=pasted,
                                  progress=False) == dest / "ml-100k"
    assert (dest / "ml-100k" / "u.data").read_text() == FILES["ml-100k/u.data"]


def test_a_sha256_that_is_not_64_hex_digits_is_refused_before_downloading(tmp_path):
    with pytest.raises(ValueError, match=r"^download_movielens: expected_sha256 must be 64 hexadecimal digits, "
                                         r"got 'md5:0e33'$"):
        download_movielens("ml-100k", tmp_path / "data", url="http://127.0.0.1:9/never.zip",
                           expected_sha256="md5:0e33", progress=False)
    assert not (tmp_path / "data").exists()
