"""The pretrained-weights downloader and cache, against an HTTP server on 127.0.0.1."""

import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnnzoo import WeightsError
from cnnzoo.cli import main
from cnnzoo.fetch import Checksum, ChecksumError, NetworkError, fetch_url, part_path
from cnnzoo.hub import cached_path, download, verify
from cnnzoo.pretrained import PRETRAINED, PretrainedWeights

PAYLOAD = os.urandom(300_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class _Files(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD as /NAME; honours Range; /drop-* cuts the first response short."""

    requests: list[tuple[str, str | None]] = []
    dropped: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        rng = self.headers.get("Range")
        self.requests.append((self.path, rng))
        if "missing" in self.path:
            self.send_error(404, "Not Found")
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if "drop" in self.path and self.path not in self.dropped:
            self.dropped.add(self.path)
            self.wfile.write(body[: len(body) // 3])  # then the connection goes away
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _entry(name: str, sha256: str | None = DIGEST) -> PretrainedWeights:
    # A file name that carries the digest's first 8 hex digits, as torchvision's do.
    stem = f"{name}-{(sha256 or DIGEST)[:8]}"
    return PretrainedWeights("resnet18", "imagenet", stem + ".pth", sha256, "test", 1.0, 2.0)


def test_download_succeeds_and_is_cached(server: str, home: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    entry = _entry("good")
    path = download(entry, progress=False)
    assert path == home / "weights" / entry.filename and path.read_bytes() == PAYLOAD
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
    before = len(_Files.requests)
    assert download(entry, progress=False) == path  # verified from the cache, not fetched
    assert len(_Files.requests) == before
    assert verify(entry).state == "ok"


def test_dropped_connection_is_resumed_with_a_range_request(server: str, home: Path) -> None:
    dest = home / "resume.pth"
    fetch_url(f"{server}/drop-resume.pth", dest, Checksum("sha256", DIGEST), progress=False)
    assert dest.read_bytes() == PAYLOAD
    ranges = [r for p, r in _Files.requests if p == "/drop-resume.pth"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(PAYLOAD) // 3}-"
    assert not part_path(dest).exists()


def test_a_partial_file_left_by_a_crash_is_resumed(server: str, home: Path) -> None:
    dest = home / "partial.pth"
    home.mkdir(parents=True)
    part_path(dest).write_bytes(PAYLOAD[:1000])
    fetch_url(f"{server}/partial.pth", dest, Checksum("sha256", DIGEST), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert ("/partial.pth", "bytes=1000-") in _Files.requests


def test_corrupt_cached_file_is_detected_and_fetched_again(server: str, home: Path,
                                                           monkeypatch, capsys) -> None:
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    entry = _entry("corrupt")
    monkeypatch.setitem(PRETRAINED, entry.key, entry)  # what `cnnzoo weights verify` checks
    path = download(entry, progress=False)
    path.write_bytes(PAYLOAD[:-1] + b"x")  # damaged after the fact (and the stamp is stale)
    assert verify(entry).state == "corrupt"
    assert main(["weights", "verify"]) == 1
    assert "CORRUPT" in capsys.readouterr().out
    assert download(entry, progress=False).read_bytes() == PAYLOAD
    assert path.with_name(path.name + ".bad").is_file()  # kept aside, never silently deleted


def test_the_stamp_spares_a_rehash_only_for_files_older_than_a_clock_tick(
        server: str, home: Path, monkeypatch) -> None:
    import cnnzoo.hub as hub

    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    entry = _entry("stamped")
    path = download(entry, progress=False)
    stamp = path.with_name(f".{path.name}.sha256")
    assert not stamp.exists()  # just written: a same-size rewrite could keep its mtime
    old = path.stat().st_mtime - 10
    os.utime(path, (old, old))
    assert verify(entry).state == "ok" and stamp.is_file()

    def no_hashing(*_: object) -> str:
        raise AssertionError("hashed although the stamp is current")

    monkeypatch.setattr(hub, "file_digest", no_hashing)
    assert verify(entry).state == "ok"


def test_wrong_hash_is_refused_and_leaves_nothing(server: str, home: Path,
                                                  monkeypatch) -> None:
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    entry = _entry("wrong", sha256="0" * 64)
    with pytest.raises(WeightsError, match="SHA256 .* is not the published 0000"):
        download(entry, progress=False)
    assert list((home / "weights").iterdir()) == []
    with pytest.raises(ChecksumError):
        fetch_url(f"{server}/x.pth", home / "x.pth", Checksum("sha256", "f" * 8), progress=False)


def test_prefix_only_entries_check_the_prefix(server: str, home: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    entry = _entry("prefix", sha256=None)
    assert download(entry, progress=False).read_bytes() == PAYLOAD
    assert "prefix only" in verify(entry).line


def test_404_names_the_url_and_where_to_put_the_file(server: str, home: Path,
                                                     monkeypatch) -> None:
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    entry = _entry("missing")
    with pytest.raises(WeightsError) as e:
        download(entry, progress=False)
    message = str(e.value)
    assert "HTTP 404" in message and f"{server}/{entry.filename}" in message
    assert f"put it in {home / 'weights'}" in message and "\n" not in message


def test_no_network_is_one_clear_line(home: Path, monkeypatch, capsys) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", f"http://127.0.0.1:{port}")
    assert main(["weights", "download", "resnet50"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "could not download" in err
    assert "resnet50-0676ba61.pth" in err and str(home / "weights") in err
    with pytest.raises(NetworkError):
        fetch_url(f"http://127.0.0.1:{port}/a.pth", home / "a.pth", None, progress=False)


def test_unwritable_cache_is_one_clear_line(server: str, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CNNZOO_HOME", str(blocker / "home"))
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    with pytest.raises(WeightsError, match="cannot write to .*a-file/home/weights"):
        download(_entry("blocked"), progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_cache_dir(server: str, home: Path, monkeypatch) -> None:
    (home / "weights").mkdir(parents=True)
    (home / "weights").chmod(0o500)
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", server)
    try:
        with pytest.raises(WeightsError, match="cannot write to"):
            download(_entry("readonly"), progress=False)
    finally:
        (home / "weights").chmod(0o700)


def test_the_table_is_consistent() -> None:
    from cnnzoo.registry import list_models, model_card

    tv_layout = {n for n in list_models() if model_card(n).torchvision_layout}
    assert {w.model for w in PRETRAINED.values()} == tv_layout  # all 17, and only those
    for w in PRETRAINED.values():
        assert w.url.startswith("https://download.pytorch.org/models/")
        if w.sha256 is not None:
            assert len(w.sha256) == 64 and w.sha256.startswith(w.sha256_prefix), w.key
        # The card's torchvision figures are derived from the row: the same, and only those.
        card = model_card(w.model)
        assert tuple(f for f in card.figures if f.source == "torchvision") == w.figures, w.key


def test_cli_list_and_path(home: Path, capsys) -> None:
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "76.13" in out and "prefix only" in out
    assert main(["weights", "path", "resnet50"]) == 0
    assert capsys.readouterr().out.strip() == str(cached_path(PRETRAINED["resnet50.imagenet"]))
    assert main(["weights", "path", "lenet5"]) == 2
    assert "no imagenet weights are published for lenet5" in capsys.readouterr().err
