"""Box geometry for crops: square expansion with a margin, clipped to the image."""

from __future__ import annotations

import math

Box = tuple[float, float, float, float]


def square_box(box: Box, margin: float, width: int, height: int) -> Box:
    """The box grown to a square of side max(w, h) * (1 + margin), centred on the box, shifted inside the image.

    When the square is larger than the image it is clipped to the image (so it may end up non-square).
    """
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx0, sy0 = cx - side / 2, cy - side / 2
    sx0 = min(max(sx0, 0.0), max(width - side, 0.0))
    sy0 = min(max(sy0, 0.0), max(height - side, 0.0))
    return sx0, sy0, min(sx0 + side, float(width)), min(sy0 + side, float(height))


def pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel bounds covering `box`, at least 1 px, inside the image."""
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)
