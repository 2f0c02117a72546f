"""Reliability: the download stage against a real local HTTP mirror that fails on cue, and hostile archives."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from battery import image_bytes, leftovers, noise, run_stage_here, write_params
from cases import case, expect
from dataset_fixtures import serve, tar_bytes

from finegrain.data import download

EVIL_ABSOLUTE = "/tmp/finegrain-reliability-evil.txt"


def flower_members() -> dict[str, bytes]:
    return {f"flower_photos/{c}/{i}.jpg": image_bytes(noise(i), "JPEG") for c in ("daisy", "roses") for i in range(3)}


def tgz(members: dict[str, bytes]) -> bytes:
    """A gzip'd tar with fixed bytes (gzip mtime 0), so sizes and error offsets are the same on every run."""
    return gzip.compress(tar_bytes(members, gz=False), mtime=0)


def tgz_with(info: tarfile.TarInfo) -> bytes:
    """The flower archive plus one crafted member (a link, or a file with a hostile name)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in sorted(flower_members().items()):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
        tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return gzip.compress(buf.getvalue(), mtime=0)


def mirror_files(archive: bytes, sha256: str | None = None) -> dict[str, bytes]:
    """What the mirror serves: the archive and a SHA256SUMS manifest (its real hash unless `sha256` is given)."""
    digest = sha256 or hashlib.sha256(archive).hexdigest()
    return {"/flower_photos.tgz": archive, "/SHA256SUMS": f"{digest}  flower_photos.tgz\n".encode()}


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The backoff waits the download asked for (recorded, not slept)."""
    recorded: list[float] = []
    monkeypatch.setattr(download, "time", SimpleNamespace(sleep=recorded.append))
    return recorded


def download_stage(project: Path, url: str):
    write_params(project, {"data": {"dataset": "flower_photos", "source": "mirror", "root": url}})
    return run_stage_here(project, "download")


def cache(project: Path) -> Path:
    return project / "data" / "downloads" / "flower_photos"


def assert_no_raw_output(project: Path) -> None:
    assert not (project / "data" / "raw").exists()
    assert leftovers(project / "data") == []


@case(
    "Downloads and archives",
    "the connection drops mid-file (the server sends half of the archive, then closes)",
    "flower_photos.tgz: ProtocolError: ('Connection broken: IncompleteRead({half} bytes read, {rest} more "
    "expected)', IncompleteRead({half} bytes read, {rest} more expected)); retrying in 1.0 s from byte {half}",
    "the received half is kept in the .part file; the retry asks for Range: bytes=<half>- and the stage succeeds "
    "with the archive verified and extracted",
)
def test_connection_cut_mid_file_resumes(tmp_path, waits):
    archive = tgz(flower_members())
    half = len(archive) // 2
    with serve(mirror_files(archive)) as server:
        server.script["/flower_photos.tgz"] = ["cut"]
        out = download_stage(tmp_path, server.url)
        assert server.ranges("/flower_photos.tgz") == [None, f"bytes={half}-"]
    assert out.code == 0 and waits == [1.0]
    assert out.warnings == [expect(test_connection_cut_mid_file_resumes, half=half, rest=len(archive) - half)]
    assert (cache(tmp_path) / "flower_photos.tgz").read_bytes() == archive
    assert len(list((tmp_path / "data" / "raw" / "flower_photos" / "flower_photos").rglob("*.jpg"))) == 6


@case(
    "Downloads and archives",
    "the server answers 404 for the archive",
    "error: {url}/flower_photos.tgz: HTTP 404 Not Found (is the URL, or the mirror's file name, right?)",
    "one request, no retry; nothing is written (no .part, no data/raw)",
)
def test_http_404_is_final(tmp_path, waits):
    with serve({"/SHA256SUMS": b""}) as server:
        out = download_stage(tmp_path, server.url)
        assert server.ranges("/flower_photos.tgz") == [None]
    assert out.error == expect(test_http_404_is_final, url=server.url)
    assert waits == [] and list(cache(tmp_path).iterdir()) == []
    assert_no_raw_output(tmp_path)


@case(
    "Downloads and archives",
    "the server answers 500 twice, then serves the file",
    "flower_photos.tgz: _Transient: HTTP 500 Internal Server Error; retrying in 1.0 s from byte 0",
    "retried with exponential backoff (1 s, then 2 s); the stage succeeds",
)
def test_http_500_is_retried(tmp_path, waits):
    archive = tgz(flower_members())
    with serve(mirror_files(archive)) as server:
        server.script["/flower_photos.tgz"] = ["500", "500"]
        out = download_stage(tmp_path, server.url)
    assert out.code == 0 and waits == [1.0, 2.0]
    assert out.warnings == [
        expect(test_http_500_is_retried),
        expect(test_http_500_is_retried).replace("1.0 s", "2.0 s"),
    ]


@case(
    "Downloads and archives",
    "the server answers 500 on every attempt",
    "error: {url}/flower_photos.tgz: download failed after 5 attempts without progress (_Transient: HTTP 500 "
    "Internal Server Error)",
    "gives up after 4 retries (waits 1, 2, 4, 8 s); nothing is written",
)
def test_http_500_gives_up(tmp_path, waits):
    with serve(mirror_files(b"unused")) as server:
        server.script["/flower_photos.tgz"] = ["500"] * 10
        out = download_stage(tmp_path, server.url)
        assert len(server.ranges("/flower_photos.tgz")) == 5
    assert out.error == expect(test_http_500_gives_up, url=server.url)
    assert waits == [1.0, 2.0, 4.0, 8.0] and list(cache(tmp_path).iterdir()) == []
    assert_no_raw_output(tmp_path)


@case(
    "Downloads and archives",
    "the archive does not match the mirror's published sha256",
    "error: flower_photos.tgz: checksum mismatch: expected sha256 {expected}, got {got} ({size} bytes from "
    "{url}/flower_photos.tgz); the download was deleted",
    "the downloaded bytes (and the .part file) are deleted; nothing is extracted",
)
def test_checksum_mismatch_deletes_the_download(tmp_path, waits):
    archive, wrong = tgz(flower_members()), "0" * 64
    with serve(mirror_files(archive, sha256=wrong)) as server:
        out = download_stage(tmp_path, server.url)
    got = hashlib.sha256(archive).hexdigest()
    assert out.error == expect(
        test_checksum_mismatch_deletes_the_download, expected=wrong, got=got, size=len(archive), url=server.url
    )
    assert list(cache(tmp_path).iterdir()) == []
    assert_no_raw_output(tmp_path)


def hostile(tmp_path: Path, info: tarfile.TarInfo):
    """Serve the flower archive with one hostile member; run the download stage; check nothing escaped."""
    archive = tgz_with(info)
    with serve(mirror_files(archive)) as server:
        out = download_stage(tmp_path, server.url)
    assert_no_raw_output(tmp_path)
    assert (cache(tmp_path) / "flower_photos.tgz").read_bytes() == archive  # verified: kept, not fetched again
    assert not (tmp_path / "data" / "evil").exists() and not Path(EVIL_ABSOLUTE).exists()
    return out


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, 4 if kind == tarfile.REGTYPE else 0
    return info


@case(
    "Downloads and archives",
    "a tar member named ../evil",
    "error: flower_photos.tgz: refusing to extract member '../evil' ('..' in its path); nothing was extracted",
    "nothing is extracted (no data/raw, nothing outside); the verified download stays cached",
)
def test_tar_member_dotdot(tmp_path, waits):
    out = hostile(tmp_path, tar_member("../evil"))
    assert out.error == expect(test_tar_member_dotdot)


@case(
    "Downloads and archives",
    "a tar member with an absolute path",
    f"error: flower_photos.tgz: refusing to extract member '{EVIL_ABSOLUTE}' (absolute path); nothing was extracted",
    "nothing is extracted, the absolute path is not written; the verified download stays cached",
)
def test_tar_member_absolute_path(tmp_path, waits):
    out = hostile(tmp_path, tar_member(EVIL_ABSOLUTE))
    assert out.error == expect(test_tar_member_absolute_path)


@case(
    "Downloads and archives",
    "a tar symlink escaping the target (flower_photos/link -> ../../evil)",
    "error: flower_photos.tgz: refusing to extract member 'flower_photos/link' (symlink '../../evil' points "
    "outside the target); nothing was extracted",
    "nothing is extracted; the verified download stays cached",
)
def test_tar_symlink_escaping(tmp_path, waits):
    out = hostile(tmp_path, tar_member("flower_photos/link", tarfile.SYMTYPE, "../../evil"))
    assert out.error == expect(test_tar_symlink_escaping)


@case(
    "Downloads and archives",
    "a corrupt gzip stream (64 bytes overwritten mid-archive; the checksum published for those very bytes)",
    "error: flower_photos.tgz: corrupt or truncated archive (BadGzipFile: CRC check failed 0xb089fbf2 != "
    "0xc10c340); nothing was extracted",
    "nothing is extracted (no partial data/raw, no temp dir)",
)
def test_corrupt_gzip_stream(tmp_path, waits):
    archive = bytearray(tgz(flower_members()))
    archive[len(archive) // 2 : len(archive) // 2 + 64] = b"\xff" * 64
    with serve(mirror_files(bytes(archive))) as server:
        out = download_stage(tmp_path, server.url)
    assert out.error == expect(test_corrupt_gzip_stream)
    assert_no_raw_output(tmp_path)


@case(
    "Downloads and archives",
    "the disk fills up during extraction (a patched tar writer raises ENOSPC after 100 bytes)",
    "error: flower_photos.tgz: extraction failed (No space left on device); nothing was extracted; free some disk "
    "space and run again",
    "no partial output: no data/raw, no temp dirs; the verified download stays cached, so the re-run does not fetch "
    "it again",
)
def test_disk_full_during_extraction(tmp_path, waits, monkeypatch):
    def full_disk(self, tarinfo, targetpath):
        with open(targetpath, "wb") as fh:
            fh.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device", targetpath)

    monkeypatch.setattr(tarfile.TarFile, "makefile", full_disk)
    archive = tgz(flower_members())
    with serve(mirror_files(archive)) as server:
        out = download_stage(tmp_path, server.url)
    assert out.error == expect(test_disk_full_during_extraction)
    assert_no_raw_output(tmp_path)
    assert (cache(tmp_path) / "flower_photos.tgz").read_bytes() == archive


class _FullDisk:
    """Stands in for `open` in finegrain.data.download: files opened for writing take `room` bytes in all, then
    fail like a full disk; reading is unchanged."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.fh = None

    def __call__(self, path, mode: str = "r"):
        if "r" in mode:
            return open(path, mode)  # noqa: SIM115 (returned to the caller's with-statement)
        self.fh = open(path, mode)  # noqa: SIM115
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()

    def write(self, block: bytes) -> int:
        if len(block) > self.room:
            self.fh.write(block[: self.room])
            self.fh.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(block)
        return self.fh.write(block)


@case(
    "Downloads and archives",
    "the disk fills up during the download (1000 bytes fit)",
    "error: flower_photos.tgz: download stopped (OSError: [Errno 28] No space left on device); free some disk space "
    "and run again; the 1000 bytes received are kept in flower_photos.tgz.part and the next run resumes from there",
    "the 1000 bytes are kept; once there is space the next run resumes with Range: bytes=1000- and succeeds",
)
def test_disk_full_during_download_resumes(tmp_path, waits, monkeypatch):
    archive = tgz(flower_members())
    monkeypatch.setattr(download, "open", _FullDisk(1000), raising=False)
    with serve(mirror_files(archive)) as server:
        out = download_stage(tmp_path, server.url)
        assert out.error == expect(test_disk_full_during_download_resumes)
        assert (cache(tmp_path) / "flower_photos.tgz.part").stat().st_size == 1000
        monkeypatch.delattr(download, "open")
        assert download_stage(tmp_path, server.url).code == 0
        assert server.ranges("/flower_photos.tgz") == [None, "bytes=1000-"]
    assert (cache(tmp_path) / "flower_photos.tgz").read_bytes() == archive


@case(
    "Downloads and archives",
    "a mirror directory (data.root) that lacks the archive",
    "error: {root}/flower_photos.tgz: no such file",
    "nothing is written",
)
def test_mirror_directory_missing_file(tmp_path, waits):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    out = download_stage(tmp_path / "project", str(mirror))
    assert out.error == expect(test_mirror_directory_missing_file, root=mirror)
    assert_no_raw_output(tmp_path / "project")


@case(
    "Downloads and archives",
    "download (over HTTP and from a mirror directory) and prepare run with stderr not a terminal (dvc's log, CI, "
    "`dvc queue`)",
    "",
    "no progress-bar frames: every bar is the engine's (finegrain/engine/progress.py), quiet when stderr is not a "
    "terminal, so the log holds the stages' lines only (before: carriage-return frames of the download and "
    "prepare bars, 10 of them in one line for prepare on Flowers-102)",
    shown="nothing: the stages log their lines, no bar",
)
def test_progress_bars_stay_out_of_logs(tmp_path, waits):
    classes = ("daisy", "roses")
    archive = tgz(
        {
            f"flower_photos/{c}/{i}.jpg": image_bytes(noise(10 * k + i), "JPEG")
            for k, c in enumerate(classes)
            for i in range(4)
        }
    )
    mirror = tmp_path / "mirror"
    for name, data in mirror_files(archive).items():
        (mirror / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (mirror / name.lstrip("/")).write_bytes(data)
    with serve(mirror_files(archive)) as server:
        outs = {"http": download_stage(tmp_path / "http", server.url)}
    outs["directory"] = download_stage(tmp_path / "dir", str(mirror))
    outs["prepare"] = run_stage_here(tmp_path / "dir", "prepare")
    for what, out in outs.items():
        assert out.code == 0, (what, out.stderr[-2000:])
        assert "\r" not in out.stderr and "it/s]" not in out.stderr and "B/s]" not in out.stderr, (what, out.stderr)
