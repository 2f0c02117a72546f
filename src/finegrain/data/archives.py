"""Safe extraction of downloaded tar archives (.tar, .tgz, .tar.gz, .tar.bz2, .tar.xz).

Every member is checked before it is written: absolute paths, `..` components, links pointing outside the target,
and device files/FIFOs are refused. Members go to a temp directory beside the target and are moved in only when the
whole archive extracted cleanly, so a refused member, a corrupt/truncated archive or a full disk leaves the target
untouched.
"""

from __future__ import annotations

import errno
import gzip
import lzma
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from finegrain.engine.progress import progress
from finegrain.errors import DataError

ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _escapes(path: str) -> bool:
    """True when a relative POSIX path leaves its root ('..', '../x', 'a/../../x')."""
    norm = posixpath.normpath(path)
    return norm == ".." or norm.startswith("../")


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) is not None


def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why a member may not be extracted, or None when it is safe."""
    name = member.name
    if _is_absolute(name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in its path"
    if member.issym():
        if _is_absolute(member.linkname):
            return f"symlink to the absolute path {member.linkname!r}"
        if _escapes(posixpath.join(posixpath.dirname(name), member.linkname)):
            return f"symlink {member.linkname!r} points outside the target"
    if member.islnk() and (_is_absolute(member.linkname) or _escapes(member.linkname)):
        return f"hard link {member.linkname!r} points outside the target"
    if member.isdev() or member.isfifo():
        return "device file or FIFO"
    return None


def safe_extract(archive: str | Path, dest: str | Path) -> int:
    """Extract `archive` into `dest` (created if needed, merged with what is there); return the member count."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    count = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in progress(tar, f"extract {archive.name}", unit="file"):
                reason = unsafe_reason(member)
                if reason:
                    raise DataError(
                        f"{archive.name}: refusing to extract member {member.name!r} ({reason}); nothing was extracted"
                    )
                try:
                    tar.extract(member, tmp, set_attrs=not member.isdir(), filter="data")
                except tarfile.FilterError as err:  # the stdlib's own checks, as a second line of defence
                    raise DataError(
                        f"{archive.name}: refusing to extract member {member.name!r} ({err}); nothing was extracted"
                    ) from None
                count += 1
            while tar.fileobj.read(1 << 20):  # read to the end so the compressor's CRC/length checks run
                pass
        if count == 0:
            raise DataError(f"{archive.name}: the archive is empty; nothing was extracted")
        _merge(tmp, dest)
    except _CORRUPT as err:
        detail = " ".join(str(err).split())  # one line (tarfile lists every method it tried on separate lines)
        raise DataError(
            f"{archive.name}: corrupt or truncated archive ({type(err).__name__}: {detail}); nothing was extracted"
        ) from None
    except OSError as err:  # disk full, quota, permissions: the environment, not the archive
        advice = "; free some disk space and run again" if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        raise DataError(
            f"{archive.name}: extraction failed ({err.strerror or err}); nothing was extracted{advice}"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count


def _merge(src: Path, dest: Path) -> None:
    """Move src's entries into dest; directories present in both are merged, files replace files."""
    for entry in src.iterdir():
        target = dest / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            _merge(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)
