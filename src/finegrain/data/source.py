"""The download stage's work: make the configured source available and record what it was.

Embedded data needs nothing; a local layout is recorded by its path (its fingerprint is the `fingerprint` stage's,
taken on every `dvc repro` so prepare re-runs when the tree changes: `finegrain.data.tree.fingerprint_source`).
`official` and `mirror` download the dataset's registry files (verified, resumable) into a download cache beside
data/raw (data/downloads/<dataset>/, not a DVC output, so an interrupted download resumes and a re-run does not
fetch again), then extract them safely into data/raw/<dataset>/ and record each file's hashes and the source of the
checksum it was verified against.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from finegrain.atomic import atomic_dir, write_json
from finegrain.data.archives import is_archive, safe_extract
from finegrain.data.config import DataCfg
from finegrain.data.download import download_file, resolve_files
from finegrain.data.registry import DATASETS
from finegrain.errors import ConfigError

log = logging.getLogger(__name__)


def download_dataset(cfg: DataCfg, downloads_dir: Path) -> list[dict]:
    """Fetch and verify every registry file of cfg.dataset (official URLs, or the mirror at data.root).

    Returns one record per file: name, url, bytes, md5, sha256, the checksum verified against and its source.
    """
    files = DATASETS[cfg.dataset].files
    if not files:
        raise ConfigError(f"params.yaml: data.source: dataset {cfg.dataset!r} has no files to download")
    records = []
    for remote, url, checksum, checksum_from in resolve_files(files, cfg.root if cfg.source == "mirror" else None):
        log.info("%s: %s", remote.name, url)
        hashes = download_file(url, downloads_dir / remote.name, checksum)
        records.append(
            {
                "name": remote.name,
                "url": url,
                **hashes,
                "checksum": str(checksum) if checksum else None,
                "checksum_from": checksum_from,
            }
        )
    return records


def fetch_source(cfg: DataCfg, raw_dir: Path, downloads_dir: Path | None = None) -> dict:
    """Write raw_dir/source.json describing the source; official/mirror also fill raw_dir/<dataset>/.

    Downloads are cached in `downloads_dir` (default: raw_dir's sibling downloads/<dataset>).
    """
    record: dict = {"dataset": cfg.dataset, "source": cfg.source}
    if cfg.source in ("official", "mirror"):
        downloads = downloads_dir or raw_dir.parent / "downloads" / cfg.dataset
        record["files"] = download_dataset(cfg, downloads)
        if cfg.source == "mirror":
            record["mirror"] = cfg.root
        with atomic_dir(raw_dir) as tmp:
            target = tmp / cfg.dataset
            target.mkdir()
            for item in record["files"]:
                archive = downloads / item["name"]
                if is_archive(item["name"]):
                    log.info("extracting %s", item["name"])
                    item["members"] = safe_extract(archive, target)
                else:
                    shutil.copyfile(archive, target / item["name"])
            write_json(tmp / "source.json", record)
        return record
    if cfg.source == "local":
        root = Path(cfg.root).expanduser()
        if not root.is_dir():
            raise ConfigError(f"params.yaml: data.root: {root} is not a directory")
        record.update(root=str(root.resolve()))  # its fingerprint: data/fingerprint.json (the fingerprint stage)
    elif cfg.source == "embedded":
        record.update(synthetic=cfg.synthetic.model_dump(), split_seed=cfg.split_seed)
    with atomic_dir(raw_dir) as tmp:
        write_json(tmp / "source.json", record)
    return record
