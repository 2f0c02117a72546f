"""safe_extract refuses members that would escape the target and leaves nothing half-extracted."""

from __future__ import annotations

import io
import tarfile

import pytest
from dataset_fixtures import tar_bytes

from finegrain.data.archives import is_archive, safe_extract
from finegrain.errors import DataError


def tar_with(tmp_path, *members: tarfile.TarInfo, name: str = "bad.tar") -> object:
    """A tar whose first member is a good file, then `members` (files get a small body)."""
    path = tmp_path / name
    with tarfile.open(path, "w") as tar:
        good = tarfile.TarInfo("good/ok.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def assert_nothing_extracted(tmp_path, dest):
    assert not dest.exists() or list(dest.iterdir()) == []
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (member("../evil"), "'..'"),
        (member("good/../../evil"), "'..'"),
        (member("/tmp/finegrain-abs-evil"), "absolute path"),
        (member("link", tarfile.SYMTYPE, "../evil"), "points outside"),
        (member("good/link", tarfile.SYMTYPE, "../../evil"), "points outside"),
        (member("abslink", tarfile.SYMTYPE, "/etc/passwd"), "absolute path"),
        (member("hard", tarfile.LNKTYPE, "../evil"), "hard link"),
        (member("fifo", tarfile.FIFOTYPE), "FIFO"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "nested-symlink", "abs-symlink", "hardlink", "fifo"],
)
def test_unsafe_members_are_refused_and_nothing_is_extracted(tmp_path, bad, reason):
    archive = tar_with(tmp_path, bad)
    dest = tmp_path / "out"
    with pytest.raises(DataError, match=f"bad.tar: refusing to extract member .*{reason}.*nothing was extracted"):
        safe_extract(archive, dest)
    assert_nothing_extracted(tmp_path, dest)


def test_corrupt_gzip_is_a_clear_error_and_leaves_nothing(tmp_path):
    data = bytearray(tar_bytes({f"d/{i}.bin": bytes([i]) * 5000 for i in range(20)}))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    (tmp_path / "corrupt.tgz").write_bytes(bytes(data))
    (tmp_path / "truncated.tgz").write_bytes(bytes(data[: len(data) // 3]))
    (tmp_path / "garbage.tgz").write_bytes(b"\x1f\x8b this is not gzip")
    for name in ("corrupt.tgz", "truncated.tgz", "garbage.tgz"):
        dest = tmp_path / f"out-{name}"
        with pytest.raises(DataError, match=f"{name}: corrupt or truncated archive.*nothing was extracted"):
            safe_extract(tmp_path / name, dest)
        assert list(dest.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_good_archives_merge_into_the_target_with_inner_links(tmp_path):
    (tmp_path / "a.tgz").write_bytes(tar_bytes({"images/a.jpg": b"A", "lists/x.txt": b"1"}))
    path = tmp_path / "b.tar"
    with tarfile.open(path, "w") as tar:
        for name, body in (("images/b.jpg", b"B"), ("top.txt", b"T")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        tar.addfile(member("images/alias.jpg", tarfile.SYMTYPE, "b.jpg"))
    dest = tmp_path / "out"
    assert safe_extract(tmp_path / "a.tgz", dest) == 2
    assert safe_extract(path, dest) == 3
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir()) == [
        "images/a.jpg",
        "images/alias.jpg",
        "images/b.jpg",
        "lists/x.txt",
        "top.txt",
    ]
    assert (dest / "images" / "alias.jpg").read_bytes() == b"B"
    assert is_archive("x.tar.gz") and is_archive("X.TGZ") and not is_archive("setid.mat")
