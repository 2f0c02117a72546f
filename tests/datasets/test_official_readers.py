"""Every official dataset from tiny fixture archives in its official format, through official, mirror and local,
end to end through prepare; plus oxford_pets on the shared 3-breed subset, read in place."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from dataset_fixtures import EXPECT, build, extract_layout, md5, serve, sha256

from finegrain import paths
from finegrain.data import download, remote
from finegrain.data.catalog import SPLIT_KEYS
from finegrain.data.config import DataCfg
from finegrain.data.official import oxford_pets
from finegrain.data.prepare import prepare_dataset
from finegrain.data.registry import DATASETS, get_dataset
from finegrain.data.shards import read_meta
from finegrain.data.source import fetch_source
from finegrain.errors import DataError

NAMES = sorted(EXPECT)
FRACTIONS = {"val_fraction": 0.25, "test_fraction": 0.25, "split_seed": 3}


def fractions(name: str) -> dict:
    """FRACTIONS as far as dataset `name` reads them (params refuse a value set where it changes nothing)."""
    return {key: value for key, value in FRACTIONS.items() if key in SPLIT_KEYS[name][0]}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A working directory like the project root (data/raw resolves inside it); retries do not sleep."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(download, "BACKOFF_S", 0.0)
    return tmp_path


def patch_registry(monkeypatch, name: str, base_url: str | None, files: dict[str, bytes], checksum: str = "md5"):
    """Point the registry entry's URLs at `base_url` and its checksums at the fixture's (as if official)."""
    spec = DATASETS[name]
    assert {f.name for f in spec.files} == set(files), "the fixture builds exactly the registry's files"
    value = {"md5": md5, "sha256": sha256, "none": None}[checksum]
    new = tuple(
        replace(
            f,
            url=f"{base_url}/{f.name}" if base_url else f.url,
            checksum=remote.Checksum(checksum, value(files[f.name])) if value else None,
        )
        for f in spec.files
    )
    monkeypatch.setitem(DATASETS, name, replace(spec, files=new))


def shutil_rm(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def rows(raw) -> list[tuple]:
    return [(r.id, r.split, r.label, r.box) for r in raw.records]


def check_and_prepare(raw, name: str, out: Path) -> dict:
    counts, class_names = EXPECT[name]
    assert raw.split_counts() == counts
    assert raw.class_names == class_names
    report = prepare_dataset(raw, out, size_px=16, max_bad_fraction=0.0, workers=1)
    assert report["skipped"] == 0 and report["counts"] == counts and report["classes"] == len(class_names)
    assert read_meta(out)["class_names"] == class_names
    return report


@pytest.mark.parametrize("name", NAMES)
def test_official_mirror_and_local_agree_end_to_end(name, project, monkeypatch):
    files = build(name)
    local_root = extract_layout(files, project / "local" / name)
    local = get_dataset(DataCfg(dataset=name, source="local", root=str(local_root), **fractions(name)), paths.RAW)
    check_and_prepare(local, name, project / "prepared-local")

    with serve(
        {f"/official/{n}": data for n, data in files.items()} | {f"/mirror/{n}": data for n, data in files.items()}
    ) as server:
        # official: the registry's URLs and checksums, pointed at the local server
        with monkeypatch.context() as m:
            patch_registry(m, name, f"{server.url}/official", files)
            cfg = DataCfg(dataset=name, source="official", **fractions(name))
            record = fetch_source(cfg, paths.RAW)
            official = get_dataset(cfg, paths.RAW)
        assert rows(official) == rows(local)
        assert all(r.path.is_relative_to(paths.RAW / name) for r in official.records)
        check_and_prepare(official, name, project / "prepared-official")
        source = json.loads((paths.RAW / "source.json").read_text())
        assert source == json.loads(json.dumps(record))
        assert [f["name"] for f in source["files"]] == [f.name for f in DATASETS[name].files]
        for item in source["files"]:
            assert item["md5"] == md5(files[item["name"]]) and item["checksum"] == f"md5 {item['md5']}"

        # mirror over HTTP with a SHA256SUMS manifest: the registry's (real, official) checksums do not match the
        # fixture, so this only passes because the manifest overrides them
        server.files["/mirror/SHA256SUMS"] = "".join(f"{sha256(d)}  {n}\n" for n, d in files.items()).encode()
        shutil_rm(paths.RAW.parent)
        cfg = DataCfg(dataset=name, source="mirror", root=f"{server.url}/mirror/", **fractions(name))
        record = fetch_source(cfg, paths.RAW)
        assert {f["checksum_from"] for f in record["files"]} == {"mirror SHA256SUMS"}
        assert rows(get_dataset(cfg, paths.RAW)) == rows(local)

    # mirror in a local directory without a manifest: the registry's checksums (patched to the fixture's) apply
    mirror_dir = project / "mirror-dir"
    mirror_dir.mkdir()
    for n, data in files.items():
        (mirror_dir / n).write_bytes(data)
    shutil_rm(paths.RAW.parent)
    patch_registry(monkeypatch, name, None, files, checksum="md5")
    cfg = DataCfg(dataset=name, source="mirror", root=str(mirror_dir), **fractions(name))
    record = fetch_source(cfg, paths.RAW)
    assert [f["checksum_from"] for f in record["files"]] == [f.source for f in DATASETS[name].files]
    mirrored = get_dataset(cfg, paths.RAW)
    assert rows(mirrored) == rows(local)
    check_and_prepare(mirrored, name, project / "prepared-mirror")


def test_boxes_and_splits_follow_the_official_files(project):
    root = project / "local"
    cub = get_dataset(
        DataCfg(
            dataset="cub200",
            source="local",
            root=str(extract_layout(build("cub200"), root / "c")),
            **fractions("cub200"),
        ),
        paths.RAW,
    )
    by_id = {r.id: r for r in cub.records}
    first = by_id["001.Black_footed_Albatross/Black_footed_Albatross_0000_1.jpg"]
    assert first.box == (1.0, 2.0, 11.5, 10.0)  # x y w h -> x0 y0 x1 y1
    assert [r.split for r in cub.records if r.id.endswith("_0004_5.jpg")] == ["test"]  # train_test_split.txt

    dogs = get_dataset(
        DataCfg(
            dataset="stanford_dogs",
            source="local",
            root=str(extract_layout(build("stanford_dogs"), root / "d")),
            **fractions("stanford_dogs"),
        ),
        paths.RAW,
    )
    boxes = {r.id: r.box for r in dogs.records}
    assert boxes["n02085620-Chihuahua/n02085620_1.jpg"] == (2.0, 3.0, 12.0, 11.0)
    assert boxes["n02085620-Chihuahua/n02085620_0.jpg"] == (2.0, 1.0, 20.0, 15.0)  # two dogs: the box around both
    assert boxes["n02099601-golden_retriever/n02099601_1.jpg"] is None  # no annotation file

    pets = get_dataset(
        DataCfg(
            dataset="oxford_pets",
            source="local",
            root=str(extract_layout(build("oxford_pets"), root / "p")),
            **fractions("oxford_pets"),
        ),
        paths.RAW,
    )
    for r in pets.records:
        number = int(r.id.rsplit("_", 1)[1].split(".")[0])
        assert (r.box is not None) == (number <= 3)
        assert (r.split == "test") == (number > 4)

    flowers = get_dataset(
        DataCfg(dataset="flowers102", source="local", root=str(extract_layout(build("flowers102"), root / "f"))),
        paths.RAW,
    )
    assert [r.split for r in flowers.records] == ["train"] * 4 + ["val"] * 4 + ["test"] * 4  # setid.mat
    assert [r.label for r in flowers.records][:3] == [0, 1, 2]


def test_val_split_is_seeded_and_stratified(project):
    root = str(extract_layout(build("cub200"), project / "c"))
    split = lambda seed: [
        r.split
        for r in get_dataset(
            DataCfg(dataset="cub200", source="local", root=root, split_seed=seed, val_fraction=0.5), paths.RAW
        ).records
    ]
    assert split(0) == split(0)
    assert len({tuple(split(s)) for s in range(6)}) > 1
    raw = get_dataset(DataCfg(dataset="cub200", source="local", root=root, split_seed=0, val_fraction=0.5), paths.RAW)
    for label in range(3):
        assert sum(r.split == "val" and r.label == label for r in raw.records) == 2  # half of each class's 4 train


def test_missing_layout_is_a_clear_error(project):
    with pytest.raises(DataError, match="run the download stage"):
        get_dataset(DataCfg(dataset="flowers102", source="official"), paths.RAW)
    with pytest.raises(DataError, match="annotations/trainval.txt"):
        get_dataset(DataCfg(dataset="oxford_pets", source="local", root=str(project)), paths.RAW)


def test_null_checksum_records_and_prints_the_first_download(project, monkeypatch, caplog):
    files = build("flower_photos")
    with serve({f"/{n}": d for n, d in files.items()}) as server:
        patch_registry(monkeypatch, "flower_photos", server.url, files, checksum="none")
        cfg = DataCfg(dataset="flower_photos", source="official", **fractions("flower_photos"))
        with caplog.at_level(logging.WARNING):
            record = fetch_source(cfg, paths.RAW)
        item = record["files"][0]
        assert item["checksum"] is None and item["checksum_from"] == "none published"
        assert item["sha256"] == sha256(files["flower_photos.tgz"])
        assert item["sha256"] in caplog.text and "no published checksum" in caplog.text
        fetch_source(cfg, paths.RAW)  # cached: no second request
        assert len(server.requests) == 1


def test_every_registry_file_cites_its_source():
    for name in NAMES:
        spec = DATASETS[name]
        assert spec.files and {"official", "mirror", "local"} <= set(spec.sources)
        for f in spec.files:
            assert f.url.startswith(("http://", "https://")) and f.url.endswith(f.name)
            assert f.checksum is None or f.source and "@" in f.source  # a file at a commit


@pytest.mark.timeout(120)
def test_oxford_pets_shared_subset_in_place(shared_datasets, tmp_path):
    root = shared_datasets / "oxford_pets_subset"
    cfg = DataCfg(dataset="oxford_pets", source="local", root=str(root), val_fraction=0.15, split_seed=0)
    raw = get_dataset(cfg, paths.RAW)
    counts = raw.split_counts()
    assert counts["train"] + counts["val"] == 300 and counts["test"] == 298 and counts["val"] > 0
    assert len(raw.class_names) == 3 and raw.class_names[0] == "Abyssinian"
    trainval = [r for r in raw.records if r.split != "test"]
    assert sum(r.box is not None for r in trainval) == 296
    assert all(r.box is None for r in raw.records if r.split == "test")
    assert all(r.path.is_relative_to(root) for r in raw.records)  # read in place, nothing copied
    assert oxford_pets.read_layout(root, 0, 0.15).records == raw.records
    report = prepare_dataset(raw, tmp_path / "prepared", size_px=16, max_bad_fraction=0.0, workers=1)
    assert report["images"] == 598 and report["skipped"] == 0
    index = __import__("pandas").read_parquet(tmp_path / "prepared" / "index.parquet")
    has_box = {r.id for r in raw.records if r.box is not None}
    stored = set(index["id"][np.isfinite(index["box_x0"])])
    assert stored <= has_box and len(stored) >= 280  # a head outside the centre square crop loses its box


def test_a_failed_download_leaves_data_raw_as_it_was(project, monkeypatch):
    files = build("cinic10")
    with serve({f"/{n}": d for n, d in files.items()}) as server:
        patch_registry(monkeypatch, "cinic10", server.url, files)
        cfg = DataCfg(dataset="cinic10", source="official", **fractions("cinic10"))
        fetch_source(cfg, paths.RAW)
        before = sorted(p.relative_to(paths.RAW).as_posix() for p in paths.RAW.rglob("*"))
        spec = DATASETS["cinic10"]
        bad = replace(spec.files[0], checksum=remote.Checksum("md5", "f" * 32))
        monkeypatch.setitem(DATASETS, "cinic10", replace(spec, files=(bad,)))
        shutil_rm(paths.RAW.parent / "downloads")
        with pytest.raises(DataError, match=f"CINIC-10.tar.gz: checksum mismatch: expected md5 {'f' * 32}, got"):
            fetch_source(cfg, paths.RAW)
    assert sorted(p.relative_to(paths.RAW).as_posix() for p in paths.RAW.rglob("*")) == before
    assert list((paths.RAW.parent / "downloads" / "cinic10").iterdir()) == []
