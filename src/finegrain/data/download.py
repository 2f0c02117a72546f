"""Verified, resumable downloads of a dataset's files, from its official URLs or a mirror.

`download_file` streams a URL (or copies a local/file:// path) to ``<dest>.part`` with a progress bar, resumes a
partial file with an HTTP Range request, retries with exponential backoff on 5xx answers, timeouts and dropped
connections, fails at once with a clear message on 404 (and other 4xx), and renames the part file to `dest` only
after its checksum matches. A mismatch deletes the part file and names the file, the expected and the received hash.
A full disk stops with a clear error and keeps the part file, so the next run resumes.
A file whose checksum no source publishes (`checksum=None`) is accepted and its hashes are returned so the caller
records them; the first download prints them.

A mirror serves the same file names under another base URL or directory; a ``SHA256SUMS`` manifest there
(``<sha256>  <name>`` lines, as written by ``sha256sum``) overrides the registry's checksums for the files it lists.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from finegrain.data.remote import Checksum, RemoteFile
from finegrain.engine.progress import progress
from finegrain.errors import DataError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
RETRIES = 4
"""Further attempts after a transient failure (5xx, timeout, dropped connection)."""
BACKOFF_S = 1.0
"""First wait between attempts; it doubles after each failed attempt that made no progress."""
TIMEOUT_S = 60.0
"""Connect and read timeout per request."""
MANIFEST = "SHA256SUMS"


class _Transient(Exception):
    """A failure worth retrying (5xx, a connection closed early)."""


def _brief(err: BaseException, limit: int = 200) -> str:
    """One short line for an exception (requests' connection errors run to several hundred characters)."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def file_hashes(path: str | Path) -> dict:
    """Size, md5 and sha256 of a file in one pass."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            md5.update(block)
            sha256.update(block)
            size += len(block)
    return {"bytes": size, "md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def is_local(url: str) -> bool:
    """A file:// URL or a plain path (no scheme)."""
    return url.startswith("file://") or "://" not in url


def local_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path)) if url.startswith("file://") else Path(url).expanduser()


def join_url(base: str, name: str) -> str:
    """`name` under a base URL or directory."""
    if is_local(base) and not base.startswith("file://"):
        return str(Path(base).expanduser() / name)
    return f"{base.rstrip('/')}/{name}"


def download_file(
    url: str,
    dest: str | Path,
    checksum: Checksum | None = None,
    *,
    retries: int | None = None,
    backoff_s: float | None = None,
    timeout_s: float | None = None,
) -> dict:
    """Fetch `url` to `dest`, verified; return its {"bytes", "md5", "sha256"}.

    An existing `dest` that matches the checksum is kept (no request); one that does not is fetched again.
    retries, backoff_s and timeout_s default to the module's RETRIES, BACKOFF_S and TIMEOUT_S.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        hashes = file_hashes(dest)
        if checksum is None or hashes[checksum.algo] == checksum.value:
            log.info("%s: already downloaded (%s)", dest.name, "verified" if checksum else "no checksum to verify")
            return hashes
        log.warning("%s: the copy on disk does not match %s; fetching it again", dest.name, checksum)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    try:
        if is_local(url):
            _copy_local(local_path(url), part)
        else:
            _fetch_http(
                url,
                part,
                RETRIES if retries is None else retries,
                BACKOFF_S if backoff_s is None else backoff_s,
                TIMEOUT_S if timeout_s is None else timeout_s,
            )
    except OSError as err:  # disk full or unwritable cache (and requests' non-transient errors, e.g. a bad URL)
        advice = "free some disk space and run again; " if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        size = part.stat().st_size if part.is_file() else 0
        if size and not is_local(url):  # an HTTP download resumes from what it has
            kept = f"the {size} bytes received are kept in {part.name} and the next run resumes from there"
        else:
            part.unlink(missing_ok=True)
            kept = "nothing was kept"
        raise DataError(f"{dest.name}: download stopped ({_brief(err)}); {advice}{kept}") from None
    hashes = file_hashes(part)
    if checksum is not None and hashes[checksum.algo] != checksum.value:
        part.unlink()
        raise DataError(
            f"{dest.name}: checksum mismatch: expected {checksum.algo} {checksum.value}, "
            f"got {hashes[checksum.algo]} ({hashes['bytes']} bytes from {url}); the download was deleted"
        )
    if checksum is None:
        log.warning(
            "%s: no published checksum to verify against; received %d bytes with sha256 %s, md5 %s",
            dest.name,
            hashes["bytes"],
            hashes["sha256"],
            hashes["md5"],
        )
    os.replace(part, dest)
    return hashes


def _copy_local(src: Path, part: Path) -> None:
    if not src.is_file():
        raise DataError(f"{src}: no such file")
    with (
        open(src, "rb") as fin,
        open(part, "wb") as fout,
        progress(
            desc=part.stem, total=src.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, mininterval=1
        ) as bar,
    ):
        while block := fin.read(CHUNK_BYTES):
            fout.write(block)
            bar.update(len(block))


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a Content-Range header: 'bytes 100-199/200' or 'bytes */200'."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (value or "").strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _fetch_http(url: str, part: Path, retries: int, backoff_s: float, timeout_s: float) -> None:
    import requests
    import urllib3

    transient = (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.HTTPError,
        _Transient,
    )
    failures = 0
    with requests.Session() as session:
        while True:
            have = part.stat().st_size if part.exists() else 0
            try:
                _fetch_once(session, url, part, have, timeout_s)
                return
            except transient as err:
                now = part.stat().st_size if part.exists() else 0
                failures = 0 if now > have else failures + 1  # progress resets the count: a slow, cut line finishes
                if failures > retries:
                    raise DataError(
                        f"{url}: download failed after {retries + 1} attempts without progress ({_brief(err)})"
                    ) from None
                wait = backoff_s * 2 ** max(failures - 1, 0)
                log.warning("%s: %s; retrying in %.1f s from byte %d", part.stem, _brief(err), wait, now)
                time.sleep(wait)


def _fetch_once(session, url: str, part: Path, have: int, timeout_s: float) -> None:
    headers = {"Accept-Encoding": "identity"}  # the archive's bytes, not a transfer-decoded copy
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout_s) as resp:
        status = resp.status_code
        if status == 416 and have:
            _, total = _content_range(resp.headers.get("Content-Range"))
            if total == have:
                return  # the part file was already complete
            part.unlink()
            raise _Transient(f"HTTP 416 for a resume at byte {have}; starting again")
        if status == 404:
            raise DataError(f"{url}: HTTP 404 Not Found (is the URL, or the mirror's file name, right?)")
        if status >= 500 or status == 429:
            raise _Transient(f"HTTP {status} {resp.reason}")
        if status >= 400:
            raise DataError(f"{url}: HTTP {status} {resp.reason}")
        mode = "wb"
        if status == 206:
            start, _ = _content_range(resp.headers.get("Content-Range"))
            if start != have:
                part.unlink(missing_ok=True)
                raise _Transient(f"the server resumed at byte {start}, not {have}; starting again")
            mode = "ab"
        else:
            have = 0  # 200: the server ignored the Range header; start over
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        with (
            open(part, mode) as fh,
            progress(
                desc=part.stem, total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, mininterval=1
            ) as bar,
        ):
            for block in resp.raw.stream(CHUNK_BYTES, decode_content=False):
                fh.write(block)
                bar.update(len(block))
        got = part.stat().st_size
        if total is not None and got < total:
            raise _Transient(f"connection closed at byte {got} of {total}")


def parse_manifest(text: str, origin: str) -> dict[str, Checksum]:
    """File name -> sha256 from `sha256sum` output ('<hex>  <name>' or '<hex> *<name>'); '#' lines are comments."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"\s*([0-9a-fA-F]{64}) [ *](.+?)\s*", line)
        if not match:
            raise DataError(f"{origin}: line {number}: expected '<sha256>  <file name>' (got {line.strip()[:80]!r})")
        sums[match.group(2).removeprefix("./")] = Checksum("sha256", match.group(1).lower())
    return sums


def read_manifest(base: str) -> dict[str, Checksum] | None:
    """The mirror's SHA256SUMS as {name: checksum}, or None when it has none (404 or no such file)."""
    url = join_url(base, MANIFEST)
    if is_local(url):
        path = local_path(url)
        return parse_manifest(path.read_text(), str(path)) if path.is_file() else None
    import requests

    for attempt in range(RETRIES + 1):
        try:
            resp = requests.get(url, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as err:
            failure = _brief(err)
        else:
            if resp.status_code in (404, 410):
                return None
            if resp.status_code < 400:
                return parse_manifest(resp.text, url)
            if resp.status_code < 500:
                raise DataError(f"{url}: HTTP {resp.status_code} {resp.reason}")
            failure = f"HTTP {resp.status_code} {resp.reason}"
        if attempt < RETRIES:
            log.warning("%s: %s; retrying in %.1f s", url, failure, BACKOFF_S * 2**attempt)
            time.sleep(BACKOFF_S * 2**attempt)
    raise DataError(f"{url}: could not read the mirror's manifest after {RETRIES + 1} attempts ({failure})")


def resolve_files(
    files: tuple[RemoteFile, ...], mirror: str | None
) -> list[tuple[RemoteFile, str, Checksum | None, str]]:
    """(file, URL to fetch, checksum to verify, where that checksum comes from) for the official or a mirror source."""
    if mirror is None:
        return [(f, f.url, f.checksum, f.source if f.checksum else "none published") for f in files]
    manifest = read_manifest(mirror) or {}
    out = []
    for f in files:
        if f.name in manifest:
            out.append((f, join_url(mirror, f.name), manifest[f.name], f"mirror {MANIFEST}"))
        else:
            out.append((f, join_url(mirror, f.name), f.checksum, f.source if f.checksum else "none published"))
    return out
