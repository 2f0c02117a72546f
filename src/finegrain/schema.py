"""The strict base of every params.yaml schema, the validators several groups share, and the one-line error.

A leaf: it imports nothing from finegrain, so any package's config module can build on it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Strict(BaseModel):
    """A params group: unknown keys are errors and a validated group is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def device_name(v: str) -> str:
    """A torch device name params may hold: auto, cpu, cuda, cuda:<N> or mps."""
    if v in ("auto", "cpu", "cuda", "mps") or (v.startswith("cuda:") and v[5:].isdigit()):
        return v
    raise ValueError(f"expected auto, cpu, cuda, cuda:<N> or mps (got {v!r})")


def pixel_eps(v: Any) -> Any:
    """ε in [0, 1] pixel units, also written as a fraction such as '4/255' (a `mode="before"` validator)."""
    if isinstance(v, str) and "/" in v:
        num, _, den = v.partition("/")
        try:
            return float(num) / float(den)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"expected a number or a fraction like 4/255 (got {v!r})") from None
    return v


def one_line(err: ValidationError, prefix: str = "") -> str:
    """The first error of `err` as ``params.yaml: <dotted key>: <message> (got <value>)``; `prefix` leads the key."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    key = ".".join(p for p in (prefix, loc) if p)
    msg = first["msg"].removeprefix("Value error, ")
    field, sep, rest = msg.partition(": ")
    if sep and all(p.isidentifier() for p in field.split(".")):  # cross-field checks name their field: "root: ..."
        key, msg = f"{key}.{field}" if key else field, rest
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif (
        "input" in first and first["type"] != "missing" and not isinstance(first["input"], dict) and "(got " not in msg
    ):
        msg = f"{msg} (got {first['input']!r})"
    return f"params.yaml: {key}: {msg}"
