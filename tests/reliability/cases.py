"""The reliability catalogue: every test in tests/reliability carries a `case(...)` record, docs/reliability.md is
rendered from them (test_rel_docs.py checks it is current).

Regenerate the report after changing a case:  python tests/reliability/cases.py
"""

from __future__ import annotations

import importlib
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOC = REPO / "docs" / "reliability.md"
AREAS = ("Data", "Downloads and archives", "Params", "Runs", "Security")
MODULES = (
    "test_rel_data",
    "test_rel_downloads",
    "test_rel_edits",
    "test_rel_params",
    "test_rel_runs",
    "test_rel_train",
    "test_rel_security",
)


@dataclass(frozen=True)
class Case:
    """One user-facing situation: what was tried, the exact message the user sees, what is kept or lost.

    `sees` may hold `{placeholders}` for run-specific values (temp paths, ports, hashes); tests fill them with
    `expect(test, ...)` and compare exactly, the report shows them as `<placeholder>`. An empty `sees` means there
    is no message to assert: `shown` then says what the user gets (default: the stages succeed without a warning).
    """

    area: str
    tried: str
    sees: str
    kept: str
    test: str
    xfail: str | None = None
    shown: str | None = None


CASES: dict[str, Case] = {}
_FORMAT = string.Formatter()


def case(area: str, tried: str, sees: str, kept: str, xfail: str | None = None, shown: str | None = None) -> Callable:
    """Register a test as a catalogue case; `xfail` (the reason) marks a known failure, strict so a fix flips it."""
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}")

    def register(fn: Callable) -> Callable:
        record = Case(area, tried, sees, kept, f"{fn.__module__}::{fn.__name__}", xfail, shown)
        CASES[record.test] = record
        fn.case = record
        return pytest.mark.xfail(strict=True, reason=xfail)(fn) if xfail else fn

    return register


def expect(test: Callable, **values: str) -> str:
    """The exact message of `test`'s case with its placeholders filled."""
    return test.case.sees.format(**values)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sees(item: Case) -> str:
    if not item.sees:
        return _cell(item.shown or "nothing: the stages succeed without a warning")
    shown = "".join(text + (f"<{name}>" if name is not None else "") for text, name, _, _ in _FORMAT.parse(item.sees))
    return f"`{_cell(shown.replace('`', chr(39)))}`"


def render() -> str:
    """docs/reliability.md from every registered case, grouped by area in module order."""
    for name in MODULES:
        importlib.import_module(name)
    lines = [
        "# Reliability battery",
        "",
        "Every bad input, fault and interruption we know a user will hit, tried by one test each in",
        "`tests/reliability/` (`python -m pytest -q tests/reliability`). *What the user sees* is the exact line the",
        "test asserts: a stage's `error: ...` on stderr (exit status 2, no traceback), a warning it logs, or DVC's",
        "own line; `<name>` stands for a run-specific value (a temp path, a port, a hash). Faults are injected",
        "deterministically: `FINEGRAIN_FAULT_KILL_AFTER_EPOCH=N` SIGKILLs training after epoch N (with",
        "`FINEGRAIN_FAULT_SIGNAL=INT` it sends Ctrl-C's SIGINT instead), `FINEGRAIN_FAULT_KILL_IN_ATOMIC_DIR=<dir>`",
        "SIGKILLs a stage when output `<dir>` is written but not yet in place.",
        "",
        "Generated from the tests' `case(...)` records; regenerate with `python tests/reliability/cases.py`",
        "(`tests/reliability/test_rel_docs.py` fails when this file is out of date).",
        "",
    ]
    cases = list(CASES.values())
    number = 0
    for area in AREAS:
        lines += [
            f"## {area}",
            "",
            "| # | What was tried | What the user sees | What is kept / lost | Test |",
            "|---|---|---|---|---|",
        ]
        for item in (c for c in cases if c.area == area):
            number += 1
            module, name = item.test.split("::")
            status = f"xfail: {item.xfail}" if item.xfail else "pass"
            lines.append(
                f"| {number} | {_cell(item.tried)} | {_sees(item)} | {_cell(item.kept)} "
                f"| `{module}.py::{name}` ({_cell(status)}) |"
            )
        lines.append("")
    failing = [c for c in cases if c.xfail]
    lines += [
        f"{number} cases: {number - len(failing)} pass, {len(failing)} known failure(s) marked xfail (strict).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    import cases  # the registry the test modules fill (this script runs as __main__, a separate module)

    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(cases.render())
    print(f"wrote {DOC.relative_to(REPO)} ({len(cases.CASES)} cases)")
