"""docs/reliability.md is generated from the battery's case records and must not drift from them."""

from __future__ import annotations

import importlib

from cases import AREAS, CASES, DOC, MODULES, render


def test_every_battery_test_is_a_catalogue_case():
    modules = [importlib.import_module(name) for name in MODULES]
    tests = [getattr(m, name) for m in modules for name in dir(m) if name.startswith("test_")]
    assert tests and all(hasattr(t, "case") for t in tests), [t.__name__ for t in tests if not hasattr(t, "case")]
    assert len(CASES) >= 35 and {c.area for c in CASES.values()} == set(AREAS)


def test_report_is_current():
    assert DOC.is_file() and DOC.read_text() == render(), (
        "docs/reliability.md is out of date; regenerate it with: python tests/reliability/cases.py"
    )
