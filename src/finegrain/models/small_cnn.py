"""A small CNN that trains in seconds on a CPU (the default pipeline's from-scratch baseline)."""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "group", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":  # batch-independent: the same result for any split of a batch across DDP processes
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


def _block(c_in: int, c_out: int, norm: str = "batch") -> nn.Sequential:
    bias = norm == "none"
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias),
        _norm(norm, c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=bias),
        _norm(norm, c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SmallCNN(nn.Module):
    """Four conv blocks (width, 2x, 4x, 8x), global max pooling, dropout and a linear classifier `fc`.

    Max pooling lets a small object anywhere in a cluttered frame decide the class (average pooling drowns it).
    """

    def __init__(self, num_classes: int, width: int = 16, dropout: float = 0.0, norm: str = "batch") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm: expected one of {', '.join(NORMS)} (got {norm!r})")
        widths = [width, width * 2, width * 4, width * 8]
        self.features = nn.Sequential(
            *[_block(c_in, c_out, norm) for c_in, c_out in zip([3, *widths[:-1]], widths, strict=True)]
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        return self.fc(self.drop(self.pool(self.features(x)).flatten(1)))
