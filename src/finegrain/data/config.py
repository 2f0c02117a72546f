"""params.yaml groups `data` (which dataset, from where, how it is split) and `prepare` (how it is stored)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from finegrain.data.catalog import DATASET_SOURCES, SPLIT_KEYS
from finegrain.schema import Strict


class SyntheticCfg(Strict):
    train_per_class: int = Field(100, gt=0)
    val_per_class: int = Field(30, gt=0)
    test_per_class: int = Field(50, gt=0)
    size_px: int = Field(128, ge=32)


class DataCfg(Strict):
    dataset: str = "synthetic"
    source: Literal["embedded", "local", "official", "mirror"] = "embedded"
    root: str | None = None
    split_seed: int = Field(0, ge=0)
    val_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    synthetic: SyntheticCfg = SyntheticCfg()

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if v not in DATASET_SOURCES:
            raise ValueError(f"unknown dataset {v!r}; expected one of {', '.join(sorted(DATASET_SOURCES))}")
        return v

    @model_validator(mode="after")
    def _source(self) -> DataCfg:
        sources = DATASET_SOURCES[self.dataset]
        if self.source not in sources:
            raise ValueError(
                f"source: dataset {self.dataset!r} supports source {' | '.join(sources)} (got {self.source!r})"
            )
        if self.source in ("local", "mirror") and not self.root:
            where = "a directory" if self.source == "local" else "the mirror's base URL or directory"
            raise ValueError(f"root: source {self.source!r} needs data.root ({where})")
        scheme = self.root.partition("://")[0] + "://" if self.root and "://" in self.root else None
        readable = ("http://", "https://", "file://") if self.source == "mirror" else ()
        if scheme and self.source in ("local", "mirror") and scheme.lower() not in readable:
            expected = "http://, https://, file:// or a directory" if readable else "a directory"
            raise ValueError(
                f"root: unsupported URL scheme {scheme!r} for source {self.source!r}; expected {expected} "
                f"(got {self.root!r})"
            )
        if self.root and self.source in ("embedded", "official"):
            raise ValueError(
                f"root: source {self.source!r} does not read data.root (got {self.root!r}); set data.source: local "
                "(the extracted files there) or mirror (the archives there), or root: null"
            )
        self._read_keys_only()
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("test_fraction: val_fraction + test_fraction must be < 1")
        return self

    def _read_keys_only(self) -> None:
        """A key the dataset's reader ignores must keep its default: a value set there would change nothing."""
        read, instead = SPLIT_KEYS[self.dataset]
        for key in ("split_seed", "val_fraction", "test_fraction"):
            default = type(self).model_fields[key].default
            if key not in read and getattr(self, key) != default:
                raise ValueError(
                    f"{key}: dataset {self.dataset!r} takes its splits from {instead}, not data.{key} (got "
                    f"{getattr(self, key)}); leave it at {default}"
                )
        if self.dataset != "synthetic" and self.synthetic != SyntheticCfg():
            raise ValueError(
                f"synthetic: only dataset 'synthetic' reads data.synthetic (this one is {self.dataset!r}); leave it at "
                "its defaults"
            )


class PrepareCfg(Strict):
    size_px: int = Field(
        128, ge=16, description="stored images are size_px x size_px (short side resize + centre crop)"
    )
    max_bad_fraction: float = Field(0.02, ge=0.0, le=1.0)
    shard_images: int = Field(4096, gt=0)
    workers: int = Field(0, ge=0, description="decode processes; 0 = one per core")
