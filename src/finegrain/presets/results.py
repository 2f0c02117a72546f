"""A preset's `results:` inventory: every quantitative statement of its report, by line of the report file, either
judged by claims (their ids) or marked untestable with the reason.

    results:
      - {line: 155, says: "the training times are directly proportional to the sample sizes", claim: fewshot_time}
      - {line: 13, says: "achieve a classification accuracy of 90%", untestable: "an objective, not a result"}

`says` is a short quote of that line (compared after `normalise`), so a line number that drifts from the text fails.
"""

from __future__ import annotations

import re

from pydantic import Field, ValidationError, field_validator, model_validator

from finegrain.errors import ConfigError
from finegrain.schema import Strict


class ResultCfg(Strict):
    """One statement of the report: where it is, what it says, and the claims that judge it or why none can."""

    line: int = Field(ge=1, description="1-based line of the report file")
    says: str = Field(min_length=1, description="a quote of the statement as the line has it (see `normalise`)")
    claim: list[str] = Field(default_factory=list, description="ids of the claims that judge it (a str is one)")
    untestable: str = Field("", description="why no claim can judge it")
    note: str = ""

    @field_validator("claim", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_verdict(self) -> ResultCfg:
        if bool(self.claim) == bool(self.untestable):
            raise ValueError("give either `claim` (ids of the claims judging it) or `untestable` (why none can)")
        return self


def normalise(text: str) -> str:
    """Lower case, markdown emphasis, escapes and <b> tags dropped, whitespace (tabs of pasted tables) collapsed."""
    text = re.sub(r"</?b>|\*|\\", "", text)
    return " ".join(text.split()).lower()


def claim_ids(preset: dict) -> set[str]:
    """Ids of the preset's claims, shared and every scale's."""
    claims = [*preset["params"].get("report", {}).get("claims", [])]
    claims += [c for s in preset["scales"].values() for c in (s or {}).get("report", {}).get("claims", [])]
    return {c["id"] for c in claims if c.get("id")}


def check_results(name: str, preset: dict) -> list[ResultCfg]:
    """The preset's inventory, validated: each entry well formed and citing only claims the preset has."""
    known = claim_ids(preset)
    out = []
    for i, raw in enumerate(preset.get("results") or []):
        where = f"preset {name}: results[{i}]" + (f" (line {raw.get('line')})" if isinstance(raw, dict) else "")
        try:
            entry = ResultCfg.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{where}: {loc + ': ' if loc else ''}{first['msg']}") from None
        unknown = [c for c in entry.claim if c not in known]
        if unknown:
            raise ConfigError(f"{where}: no claim with id {unknown[0]!r}")
        out.append(entry)
    return out


def misquoted(entries: list[ResultCfg], report_lines: list[str]) -> list[str]:
    """The entries whose `says` is not on their line of the report (one description each)."""
    bad = []
    for e in entries:
        line = report_lines[e.line - 1] if e.line <= len(report_lines) else ""
        if normalise(e.says) not in normalise(line):
            bad.append(f"line {e.line}: {e.says!r} not found there")
    return bad
