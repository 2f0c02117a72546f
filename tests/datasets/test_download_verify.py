"""download_file against a real HTTP server on 127.0.0.1: success, resume (Range), retries, 404, checksum checks."""

from __future__ import annotations

import logging

import pytest
from dataset_fixtures import md5, serve, sha256

from finegrain.data import download
from finegrain.data.download import download_file, parse_manifest, read_manifest, resolve_files
from finegrain.data.remote import Checksum
from finegrain.errors import DataError

BODY = bytes(range(256)) * 1200  # 300 KiB: several chunks


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(download, "BACKOFF_S", 0.0)
    monkeypatch.setattr(download, "CHUNK_BYTES", 64 * 1024)


def test_success_streams_verifies_and_renames(tmp_path):
    with serve({"/a.tgz": BODY}) as server:
        hashes = download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)))
        assert server.ranges("/a.tgz") == [None]
        assert hashes == {"bytes": len(BODY), "md5": md5(BODY), "sha256": sha256(BODY)}
        assert (tmp_path / "a.tgz").read_bytes() == BODY and not (tmp_path / "a.tgz.part").exists()
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("sha256", sha256(BODY)))
        assert len(server.requests) == 1  # already there and verified: no request


def test_resume_after_a_connection_cut_mid_file(tmp_path):
    with serve({"/a.tgz": BODY}) as server:
        server.script["/a.tgz"] = ["cut"]
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)))
        first, second = server.ranges("/a.tgz")
        assert first is None and second == f"bytes={len(BODY) // 2}-"  # the second attempt resumes
        assert (tmp_path / "a.tgz").read_bytes() == BODY


def test_resume_of_a_part_file_left_by_an_earlier_run(tmp_path):
    (tmp_path / "a.tgz.part").write_bytes(BODY[:1000])
    with serve({"/a.tgz": BODY}) as server:
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)))
        assert server.ranges("/a.tgz") == ["bytes=1000-"]
    assert (tmp_path / "a.tgz").read_bytes() == BODY


def test_a_server_ignoring_range_restarts_cleanly(tmp_path):
    (tmp_path / "a.tgz.part").write_bytes(b"stale bytes")
    with serve({"/a.tgz": BODY}) as server:
        server.script["/a.tgz"] = ["no-range"]
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)))
    assert (tmp_path / "a.tgz").read_bytes() == BODY


def test_complete_part_file_answered_416_is_verified(tmp_path):
    (tmp_path / "a.tgz.part").write_bytes(BODY)
    with serve({"/a.tgz": BODY}) as server:
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)))
        assert server.ranges("/a.tgz") == [f"bytes={len(BODY)}-"]
    assert (tmp_path / "a.tgz").read_bytes() == BODY


def test_404_is_a_clear_error_without_retry(tmp_path):
    with serve() as server:
        with pytest.raises(DataError, match=r"/missing.tgz: HTTP 404"):
            download_file(f"{server.url}/missing.tgz", tmp_path / "missing.tgz", None)
        assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_500_then_success_retries(tmp_path, caplog):
    with serve({"/a.tgz": BODY}) as server:
        server.script["/a.tgz"] = ["500", "500"]
        with caplog.at_level(logging.WARNING):
            download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)))
        assert len(server.requests) == 3 and "HTTP 500" in caplog.text
    assert (tmp_path / "a.tgz").read_bytes() == BODY


def test_a_timeout_is_retried(tmp_path):
    with serve({"/a.tgz": BODY}) as server:
        server.script["/a.tgz"] = ["slow"]
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)), timeout_s=0.3)
        assert len(server.requests) == 2
    assert (tmp_path / "a.tgz").read_bytes() == BODY


def test_persistent_500_gives_up_after_the_retries(tmp_path):
    with serve({"/a.tgz": BODY}) as server:
        server.script["/a.tgz"] = ["500"] * 10
        with pytest.raises(DataError, match=r"failed after 3 attempts.*HTTP 500"):
            download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", None, retries=2)
        assert len(server.requests) == 3


def test_bad_checksum_deletes_the_download_and_names_file_expected_got(tmp_path):
    wrong = "0" * 32
    with serve({"/a.tgz": BODY}) as server, pytest.raises(DataError) as err:
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", wrong))
    message = str(err.value)
    assert "a.tgz" in message and f"expected md5 {wrong}" in message and f"got {md5(BODY)}" in message
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .part


def test_a_corrupted_cached_copy_is_fetched_again(tmp_path):
    (tmp_path / "a.tgz").write_bytes(b"not the file")
    with serve({"/a.tgz": BODY}) as server:
        download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", Checksum("md5", md5(BODY)))
        assert len(server.requests) == 1
    assert (tmp_path / "a.tgz").read_bytes() == BODY


def test_unknown_checksum_is_recorded_and_printed(tmp_path, caplog):
    with serve({"/a.tgz": BODY}) as server, caplog.at_level(logging.WARNING):
        hashes = download_file(f"{server.url}/a.tgz", tmp_path / "a.tgz", None)
    assert hashes["sha256"] == sha256(BODY) and sha256(BODY) in caplog.text and md5(BODY) in caplog.text


def test_local_and_file_url_sources(tmp_path):
    src = tmp_path / "mirror" / "a.tgz"
    src.parent.mkdir()
    src.write_bytes(BODY)
    download_file(str(src), tmp_path / "x" / "a.tgz", Checksum("md5", md5(BODY)))
    download_file(src.as_uri(), tmp_path / "y" / "a.tgz", Checksum("md5", md5(BODY)))
    assert (tmp_path / "y" / "a.tgz").read_bytes() == BODY
    with pytest.raises(DataError, match="no such file"):
        download_file(str(tmp_path / "mirror" / "nope.tgz"), tmp_path / "z" / "nope.tgz", None)


def test_mirror_manifest_overrides_registry_checksums(tmp_path):
    files = (
        download.RemoteFile("a.tgz", "https://example.invalid/a.tgz", Checksum("md5", "1" * 32), "src A"),
        download.RemoteFile("b.mat", "https://example.invalid/b.mat", Checksum("md5", "2" * 32), "src B"),
    )
    manifest = f"# made by sha256sum\n{sha256(BODY)}  a.tgz\n"
    with serve({"/m/SHA256SUMS": manifest.encode()}) as server:
        resolved = resolve_files(files, f"{server.url}/m")
    assert [(f.name, url, str(c), where) for f, url, c, where in resolved] == [
        ("a.tgz", f"{server.url}/m/a.tgz", f"sha256 {sha256(BODY)}", "mirror SHA256SUMS"),
        ("b.mat", f"{server.url}/m/b.mat", f"md5 {'2' * 32}", "src B"),
    ]
    with serve() as server:  # no manifest (404): the registry's checksums
        assert read_manifest(server.url) is None
    assert read_manifest(str(tmp_path)) is None
    (tmp_path / "SHA256SUMS").write_text(f"{sha256(BODY)} *./a.tgz\n")
    assert read_manifest(str(tmp_path)) == {"a.tgz": Checksum("sha256", sha256(BODY))}
    with pytest.raises(DataError, match="line 1"):
        parse_manifest("not a manifest line\n", "SHA256SUMS")
