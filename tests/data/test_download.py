"""Tests of qser_core.data.download against a real HTTP server on 127.0.0.1 (loopback only, no internet)."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from qser_core.data.corpus import index_corpus
from qser_core.data.download import DownloadReport, download_crema_d, download_file, parse_lfs_pointer
from qser_core.errors import BackendError

NAMES = ["1001_DFA_ANG_XX.wav", "1001_IEO_HAP_HI.wav", "1002_DFA_SAD_XX.wav", "1002_TIE_NEU_XX.wav",
         "1003_DFA_FEA_LO.wav"]
DEMOGRAPHICS = b"ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n" \
               b"1002,21,Female,Caucasian,Not Hispanic\n1003,21,Female,Caucasian,Not Hispanic\n"


def _wav_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(buf, (0.1 * rng.standard_normal(1600 + 100 * seed)).astype(np.float32), 16000, format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


def _pointer(content: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(content).hexdigest()}\n"
            f"size {len(content)}\n").encode()


class _Server:
    """A tiny GitHub look-alike: /api (tree JSON), /raw (LFS pointers, plain files), /media (content)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.honour_range = True
        self.corrupt: set[str] = set()  # media paths served with one flipped byte
        self.drop_after: dict[str, int] = {}  # media path -> bytes sent before the connection is cut
        media = {f"AudioWAV/{name}": _wav_bytes(i) for i, name in enumerate(NAMES)}
        tree = [{"path": "AudioWAV", "type": "tree"}, {"path": "README.md", "type": "blob", "size": 5},
                {"path": "VideoDemographics.csv", "type": "blob", "size": len(DEMOGRAPHICS)}]
        tree += [{"path": p, "type": "blob", "size": 130} for p in media]
        self.media = media
        self.files["/api/tree"] = json.dumps({"tree": tree, "truncated": False}).encode()
        self.files["/raw/VideoDemographics.csv"] = DEMOGRAPHICS
        for path, content in media.items():
            self.files[f"/raw/{path}"] = _pointer(content)
            self.files[f"/media/{path}"] = content
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_HEAD(self):
                server.requests.append(("HEAD", self.path, None))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append(("GET", self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                rel = self.path.removeprefix("/media/")
                if rel in server.corrupt:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                start = 0
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if rel in server.drop_after:
                    self.wfile.write(chunk[: server.drop_after.pop(rel)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def media_gets(self) -> list[str]:
        return [p for m, p, _ in self.requests if m == "GET" and p.startswith("/media/")]

    def urls(self) -> dict[str, str]:
        return {"api_url": f"{self.base}/api/tree", "raw_url": f"{self.base}/raw", "media_url": f"{self.base}/media"}


@pytest.fixture
def server():
    srv = _Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def dead_url():
    """An address on loopback where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TestDownloadFile:
    def test_downloads_and_verifies(self, server, tmp_path):
        content = server.media["AudioWAV/1001_DFA_ANG_XX.wav"]
        seen = []
        dest = download_file(f"{server.base}/media/AudioWAV/1001_DFA_ANG_XX.wav", tmp_path / "a.wav",
                             size=len(content), sha256=_sha(content), md5=hashlib.md5(content).hexdigest(),
                             progress=lambda done, total, name: seen.append((done, total)))
        assert dest.read_bytes() == content
        assert not (tmp_path / "a.wav.part").exists()
        assert seen[-1] == (len(content), len(content))

    def test_complete_file_is_not_fetched_again(self, server, tmp_path):
        content = server.media["AudioWAV/1001_DFA_ANG_XX.wav"]
        url = f"{server.base}/media/AudioWAV/1001_DFA_ANG_XX.wav"
        download_file(url, tmp_path / "a.wav", size=len(content), sha256=_sha(content))
        before = len(server.requests)
        download_file(url, tmp_path / "a.wav", size=len(content), sha256=_sha(content))
        assert len(server.requests) == before

    def test_resumes_a_partial_file_with_a_range_request(self, server, tmp_path):
        content = server.media["AudioWAV/1002_DFA_SAD_XX.wav"]
        (tmp_path / "a.wav.part").write_bytes(content[:1000])
        download_file(f"{server.base}/media/AudioWAV/1002_DFA_SAD_XX.wav", tmp_path / "a.wav",
                      size=len(content), sha256=_sha(content))
        assert (tmp_path / "a.wav").read_bytes() == content
        assert server.requests[-1][2] == "bytes=1000-"

    def test_server_ignoring_range_gives_a_fresh_complete_file(self, server, tmp_path):
        server.honour_range = False
        content = server.media["AudioWAV/1002_DFA_SAD_XX.wav"]
        (tmp_path / "a.wav.part").write_bytes(content[:1000])
        download_file(f"{server.base}/media/AudioWAV/1002_DFA_SAD_XX.wav", tmp_path / "a.wav",
                      size=len(content), sha256=_sha(content))
        assert (tmp_path / "a.wav").read_bytes() == content

    def test_corrupt_partial_file_is_fetched_again_from_scratch(self, server, tmp_path):
        content = server.media["AudioWAV/1002_DFA_SAD_XX.wav"]
        (tmp_path / "a.wav.part").write_bytes(b"\0" * 1000)  # wrong bytes: resumed file fails sha256
        download_file(f"{server.base}/media/AudioWAV/1002_DFA_SAD_XX.wav", tmp_path / "a.wav",
                      size=len(content), sha256=_sha(content))
        assert (tmp_path / "a.wav").read_bytes() == content
        assert server.requests[-1][2] is None  # the retry was a full download

    def test_corrupted_existing_file_is_replaced(self, server, tmp_path):
        content = server.media["AudioWAV/1002_DFA_SAD_XX.wav"]
        (tmp_path / "a.wav").write_bytes(content[:-1] + b"x")
        download_file(f"{server.base}/media/AudioWAV/1002_DFA_SAD_XX.wav", tmp_path / "a.wav",
                      size=len(content), sha256=_sha(content))
        assert (tmp_path / "a.wav").read_bytes() == content

    def test_checksum_mismatch_raises_and_leaves_nothing(self, server, tmp_path):
        url = f"{server.base}/media/AudioWAV/1001_DFA_ANG_XX.wav"
        with pytest.raises(BackendError, match=r"1001_DFA_ANG_XX.wav failed verification: sha256 .*, expected 0+"):
            download_file(url, tmp_path / "a.wav", sha256="0" * 64)
        assert list(tmp_path.iterdir()) == []

    def test_wrong_size_raises(self, server, tmp_path):
        url = f"{server.base}/media/AudioWAV/1001_DFA_ANG_XX.wav"
        with pytest.raises(BackendError, match=r"failed verification: size \d+ bytes, expected 10\b"):
            download_file(url, tmp_path / "a.wav", size=10)

    def test_http_error_names_the_url(self, server, tmp_path):
        with pytest.raises(BackendError, match=r"HTTP 404 .* for http://127\.0\.0\.1:\d+/nope"):
            download_file(f"{server.base}/nope", tmp_path / "a.wav")

    def test_cut_connection_raises_and_a_rerun_completes(self, server, tmp_path):
        content = server.media["AudioWAV/1002_DFA_SAD_XX.wav"]
        server.drop_after["AudioWAV/1002_DFA_SAD_XX.wav"] = 500
        url = f"{server.base}/media/AudioWAV/1002_DFA_SAD_XX.wav"
        with pytest.raises(BackendError, match=r"run the command again"):
            download_file(url, tmp_path / "a.wav", size=len(content), sha256=_sha(content))
        assert not (tmp_path / "a.wav").exists()  # dest never holds a partial file
        # (the bytes of the read that broke are lost, so the .part may be shorter than 500)
        assert (tmp_path / "a.wav.part").stat().st_size <= 500
        download_file(url, tmp_path / "a.wav", size=len(content), sha256=_sha(content))
        assert (tmp_path / "a.wav").read_bytes() == content

    def test_offline_fails_at_once_with_a_clear_message(self, dead_url, tmp_path):
        with pytest.raises(BackendError, match=r"cannot reach 127\.0\.0\.1:\d+ .*no network is reachable"):
            download_file(f"{dead_url}/x.wav", tmp_path / "x.wav")


class TestLfsPointer:
    def test_parses_oid_and_size(self):
        assert parse_lfs_pointer(_pointer(b"abc").decode()) == {"sha256": _sha(b"abc"), "size": 3}

    @pytest.mark.parametrize("text", ["RIFF....", "version https://git-lfs.github.com/spec/v1\nsize 3\n", ""])
    def test_other_text_is_not_a_pointer(self, text):
        assert parse_lfs_pointer(text) is None


class TestCremaD:
    def test_full_download_then_index(self, server, tmp_path):
        report = download_crema_d(tmp_path, workers=3, **server.urls())
        assert isinstance(report, DownloadReport)
        assert (report.downloaded, report.skipped_complete, report.failed) == (6, 0, [])
        for path, content in server.media.items():
            assert (tmp_path / path).read_bytes() == content
        assert (tmp_path / "VideoDemographics.csv").read_bytes() == DEMOGRAPHICS
        assert not list(tmp_path.rglob("*.part"))
        table = index_corpus(tmp_path, dataset="crema-d").table
        assert len(table) == 5
        assert table.set_index("speaker")["sex"].to_dict() == {"1001": "Male", "1002": "Female", "1003": "Female"}

    def test_second_run_skips_everything_without_fetching(self, server, tmp_path):
        download_crema_d(tmp_path, workers=2, **server.urls())
        before = len(server.requests)
        report = download_crema_d(tmp_path, workers=2, **server.urls())
        assert (report.downloaded, report.skipped_complete, report.failed) == (0, 6, [])
        assert len(server.requests) == before  # pointers cached, files verified locally
        assert "0 downloaded, 6 already complete, 0 failed" in report.summary()

    def test_resumes_truncated_part_and_replaces_corrupted_file(self, server, tmp_path):
        download_crema_d(tmp_path, workers=2, **server.urls())
        clip_a, clip_b = tmp_path / "AudioWAV" / NAMES[0], tmp_path / "AudioWAV" / NAMES[1]
        content_a = clip_a.read_bytes()
        clip_a.unlink()
        (tmp_path / "AudioWAV" / f"{NAMES[0]}.part").write_bytes(content_a[:700])
        clip_b.write_bytes(b"\0" * clip_b.stat().st_size)  # right size, wrong content
        server.requests.clear()
        report = download_crema_d(tmp_path, workers=2, **server.urls())
        assert (report.downloaded, report.skipped_complete, report.failed) == (2, 4, [])
        assert clip_a.read_bytes() == server.media[f"AudioWAV/{NAMES[0]}"]
        assert clip_b.read_bytes() == server.media[f"AudioWAV/{NAMES[1]}"]
        assert ("GET", f"/media/AudioWAV/{NAMES[0]}", "bytes=700-") in server.requests

    def test_corrupt_server_copy_is_reported_and_others_complete(self, server, tmp_path):
        server.corrupt.add(f"AudioWAV/{NAMES[2]}")
        report = download_crema_d(tmp_path, workers=2, **server.urls())
        assert report.downloaded == 5
        assert [path for path, _ in report.failed] == [f"AudioWAV/{NAMES[2]}"]
        assert "failed verification: sha256" in report.failed[0][1]
        assert not (tmp_path / "AudioWAV" / NAMES[2]).exists()
        assert "run the same command again" in report.summary()
        server.corrupt.clear()
        again = download_crema_d(tmp_path, workers=2, **server.urls())
        assert (again.downloaded, again.skipped_complete, again.failed) == (1, 5, [])

    def test_limit_fetches_the_first_clips_only(self, server, tmp_path):
        report = download_crema_d(tmp_path, workers=2, limit=2, **server.urls())
        assert report.downloaded == 3  # two clips + demographics
        assert sorted(p.name for p in (tmp_path / "AudioWAV").iterdir()) == sorted(NAMES)[:2]

    def test_server_down_fails_fast(self, dead_url, tmp_path):
        urls = {"api_url": f"{dead_url}/api/tree", "raw_url": f"{dead_url}/raw", "media_url": f"{dead_url}/media"}
        with pytest.raises(BackendError, match=r"no network is reachable"):
            download_crema_d(tmp_path, **urls)

    def test_server_gone_after_listing_fails_fast_and_keeps_files(self, server, dead_url, tmp_path):
        download_crema_d(tmp_path, workers=2, limit=2, **server.urls())
        (tmp_path / "AudioWAV" / NAMES[0]).unlink()
        urls = {**server.urls(), "media_url": f"{dead_url}/media"}
        with pytest.raises(BackendError, match=r"cannot reach .*no network is reachable"):
            download_crema_d(tmp_path, workers=2, limit=2, **urls)
        assert (tmp_path / "AudioWAV" / NAMES[1]).is_file()

    def test_bad_listing_is_a_clear_error(self, server, tmp_path):
        server.files["/api/tree"] = b"<html>rate limited</html>"
        with pytest.raises(BackendError, match=r"is not a GitHub tree .*rate-limiting"):
            download_crema_d(tmp_path, **server.urls())
