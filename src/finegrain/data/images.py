"""Decode one image robustly: EXIF orientation, any mode to RGB, reduced JPEG decoding, square resize."""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from finegrain.data.records import Box

MAX_IMAGE_PIXELS = 64_000_000
"""Decompression-bomb guard: larger images are refused, before any pixel is decoded."""
MAX_ASPECT_RATIO = 25
"""Longer side / shorter side above this is refused from the header: prepare keeps the centre square (1/25 of such an
image at most), and resizing the short side to the target first would blow a 1x100000 strip up to size_px x
(100000 x size_px) pixels. Panoramas (up to ~12:1) pass."""


class BadImage(Exception):
    """This file cannot be used as an image (the reason is the message)."""


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale to 8 bit by the value range
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        return Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, P, CMYK, YCbCr, 1, F ...


def _bomb_reason(err: Exception) -> str:
    """Our one-line refusal for PIL's own (looser) decompression-bomb error, which reports only a pixel count."""
    match = re.search(r"\((\d+) pixels\)", str(err))
    pixels = f"{int(match.group(1))} pixels" if match else "its size"
    return f"image of {pixels} exceeds the {MAX_IMAGE_PIXELS} pixel decompression-bomb limit"


def open_rgb(path: Path, target_short_px: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Decode an image as RGB with EXIF orientation applied; also return its full (oriented) size.

    `target_short_px` lets JPEG decoding use draft mode (DCT scaling) when the image is much larger.
    Anything that makes the file unusable raises BadImage with a one-line reason (never another exception).
    """
    with warnings.catch_warnings():
        # PIL only warns below 2x its own limit; the MAX_IMAGE_PIXELS check below is stricter and refuses instead
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            if Path(path).stat().st_size == 0:
                raise BadImage("empty file (0 bytes)")
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise BadImage(f"{w}x{h} exceeds the {MAX_IMAGE_PIXELS} pixel decompression-bomb limit")
                if w < 1 or h < 1:
                    raise BadImage("empty image")
                if max(w, h) > MAX_ASPECT_RATIO * min(w, h):
                    ratio = max(w, h) / min(w, h)
                    raise BadImage(
                        f"{w}x{h}: aspect ratio {ratio:.0f}:1 exceeds the {MAX_ASPECT_RATIO}:1 limit (its centre "
                        f"square would keep {100 / ratio:.2g}% of the image)"
                    )
                if target_short_px and img.format == "JPEG":
                    scale = min(w, h) / target_short_px
                    if scale >= 2:  # DCT scaling by 1/2, 1/4 or 1/8 to the smallest size >= the request
                        img.draft("RGB", (math.ceil(w / scale), math.ceil(h / scale)))
                rotated = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)
                img.load()
                img = ImageOps.exif_transpose(img)
                return _to_rgb(img), ((h, w) if rotated else (w, h))
        except BadImage:
            raise
        except FileNotFoundError:
            if Path(path).is_symlink():
                raise BadImage(f"broken symlink (its target {os.readlink(path)} does not exist)") from None
            raise BadImage("no such file") from None
        except Image.DecompressionBombError as err:
            raise BadImage(_bomb_reason(err)) from None
        except UnidentifiedImageError:
            raise BadImage("not an image (no known image format)") from None
        except MemoryError:
            raise
        except Exception as err:  # corrupt bytes raise anything from OSError to struct.error: skip the file
            detail = " ".join(f"{type(err).__name__}: {err}".split())
            raise BadImage(f"corrupt or truncated image data ({detail})") from None


def square_resize(
    img: Image.Image, size_px: int, box: Box | None, orig_size: tuple[int, int]
) -> tuple[np.ndarray, Box | None]:
    """Resize the short side to size_px and centre-crop a square; map `box` (given in orig_size coords)."""
    w, h = img.size
    scale = size_px / min(w, h)
    new_w, new_h = max(size_px, round(w * scale)), max(size_px, round(h * scale))
    img = img.resize((new_w, new_h), Image.BILINEAR, reducing_gap=3.0)
    left, top = (new_w - size_px) // 2, (new_h - size_px) // 2
    arr = np.asarray(img.crop((left, top, left + size_px, top + size_px)), dtype=np.uint8)
    if box is None:
        return arr, None
    sx, sy = new_w / orig_size[0], new_h / orig_size[1]
    x0, y0, x1, y1 = box
    mapped = (
        min(max(x0 * sx - left, 0.0), size_px),
        min(max(y0 * sy - top, 0.0), size_px),
        min(max(x1 * sx - left, 0.0), size_px),
        min(max(y1 * sy - top, 0.0), size_px),
    )
    if mapped[2] - mapped[0] < 1 or mapped[3] - mapped[1] < 1:
        return arr, None
    return arr, mapped
