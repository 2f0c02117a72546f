"""Whether a model sees upsampled pixels: an input size above what its data input holds.

Upsampling is allowed (a pretrained network at its native resolution on small images is a standard recipe, and
preset E runs Lite0 at 64 px on CINIC-10's 32 px images on purpose), but it is never silent: the stage that does it
warns once, naming both keys, and train records it in the variant's summary.json, which the report shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finegrain.data.shards import read_meta

if TYPE_CHECKING:
    from finegrain.params import Params

STORED_SIZE_KEYS = {"prepared": "prepare.size_px", "cropped": "crop.size_px", "cropped_square": "crop.size_px"}
"""Data input -> the params key of the square size its images are stored at (`augmented`: its generate.input's)."""


def stored_size_key(data: str, generate_input: str) -> str:
    """The params key that sets the stored size of data input `data`."""
    return STORED_SIZE_KEYS[generate_input if data == "augmented" else data]


SOURCE = "the source images' median short side"
"""`stored_key` of an upsampling limited by the images themselves (prepare's meta.json `source_short_side_px`)."""


@dataclass(frozen=True)
class Upsampling:
    """`size_key` asks for `size_px`, above the `stored_px` that `stored_key` stored the images at (or SOURCE: the
    original images are that small, whatever the stored size)."""

    size_key: str
    size_px: int
    stored_key: str
    stored_px: int

    @property
    def factor(self) -> float:
        return self.size_px / self.stored_px

    def message(self, who: str) -> str:
        """One line: both keys, their values, what `who` (e.g. 'train@cnn trains') does, and the way out."""
        raise_it = f" or raise {self.stored_key}" if "." in self.stored_key else ""  # a params key, not the images
        return (
            f"{self.size_key} ({self.size_px}) is above {self.stored_key} ({self.stored_px}): {who} on images "
            f"upsampled {self.factor:.3g}x per side; lower {self.size_key}{raise_it} unless that is the intent"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "factor": round(self.factor, 4)}


def upsampling(data_dir: Path, size_px: int, size_key: str, stored_key: str) -> Upsampling | None:
    """The upsampling of images read from `data_dir` to `size_px`, or None: above its meta.json `size_px` (set by
    `stored_key`), or above `source_short_side_px` when that is not larger: the median short side of the original
    images prepare recorded, or of the crop boxes (in the originals' pixels) crop recorded (meta's `source_what`)."""
    meta = read_meta(data_dir)
    stored = int(meta["size_px"])
    source = meta.get("source_short_side_px")
    if source is not None and int(source) <= stored:  # the images themselves: a larger prepare.size_px won't help
        stored, stored_key = int(source), meta.get("source_what", SOURCE)
    return Upsampling(size_key, size_px, stored_key, stored) if size_px > stored else None


def variant_upsampling(params: Params, name: str, data_dir: Path) -> Upsampling | None:
    """Whether variant `name` reads its data input (`data_dir`) at an image_size_px above the stored size."""
    cfg = params.variant(name)
    stored_key = stored_size_key(cfg.data, params.generate.input)
    return upsampling(data_dir, cfg.image_size_px, f"variants.{name}.image_size_px", stored_key)
