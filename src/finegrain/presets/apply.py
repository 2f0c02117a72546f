"""Compose params.yaml = the schema defaults + a preset's `params` + one of its `scales` (+ `--set` overrides).

The schema defaults are what the committed params.yaml states outside `variants` and `report` (a test checks it).

A preset file (presets/<X>.yaml):

    description: one line            # what the report is
    report: A-flowers102-....md      # the report it reproduces
    params: {...}                    # a params overlay shared by every scale: data, train, variants, report.claims
    scales: {full: {...}, cpu: {...}}   # overlays per scale; a null value deletes the key (e.g. a variant)
    results: [{line, says, claim | untestable}]   # the report's statements: claim ids or why untestable

Mappings merge key by key (variants too: a scale can change one key of a variant); lists and scalars replace, except
a scale's `report.claims`, which are added to the shared claims. Claims listing `scales` are kept only at those.

Every claim carries the values the report prints (`report`, `report_source`) or a `note` saying why it has none
(e.g. not the report's own claim), and a claim on an accuracy names the split the report's is on (`split`, or
`unmeasured`: what the report measured instead); `report.tables` rows name variants of some scale. `load_preset`
checks these.
A preset about several datasets lists them in `datasets` (the first is params' data.dataset); its claims and table
rows name their dataset, and `dvc exp run --queue -S data.dataset=<all of them>` runs each (see `next_command`).
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import yaml

from finegrain.errors import ConfigError
from finegrain.params import Params, default_params, load_params
from finegrain.presets.results import check_results
from finegrain.report.config import SPLITS, other_dataset_claims

log = logging.getLogger(__name__)

PRESETS_DIR = Path("presets")


def merge(base: dict, overlay: dict) -> dict:
    """`overlay` deep-merged over `base` (new dict); None deletes a key."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_preset(name: str, presets_dir: Path = PRESETS_DIR) -> dict:
    path = presets_dir / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in presets_dir.glob("*.yaml"))) or "none"
        raise ConfigError(f"preset: no {path} (presets: {known})")
    preset = yaml.safe_load(path.read_text()) or {}
    for key in ("params", "scales"):
        if not isinstance(preset.get(key), dict):
            raise ConfigError(f"{path}: {key}: expected a mapping")
    _check_report_numbers(name, preset)
    check_results(name, preset)
    return preset


def _check_report_numbers(name: str, preset: dict) -> None:
    """Every claim (shared or a scale's) has the report's values or a note; table rows name known variants."""
    scales = [s or {} for s in preset["scales"].values()]
    claims = [*preset["params"].get("report", {}).get("claims", [])]
    claims += [c for s in scales for c in s.get("report", {}).get("claims", [])]
    for claim in claims:
        if not claim.get("report") and not claim.get("note"):
            raise ConfigError(
                f"preset {name}: claim {claim.get('text')!r}: no report values and no note (give `report` with "
                "`report_source`, or a `note` saying why the report prints none)"
            )
        split_metric = [m for m in (claim.get("metric", "test.top1"), claim.get("metric_b")) if _on_a_split(m)]
        if split_metric and not claim.get("split") and not claim.get("unmeasured"):
            raise ConfigError(
                f"preset {name}: claim {claim.get('text')!r}: {split_metric[0]} is on a split; name the split the "
                "report's numbers are on (split: test | val), or say in `unmeasured` what the report measured"
            )
    known = set(preset["params"].get("variants", {})) | {v for s in scales for v in (s.get("variants") or {})}
    for table in preset["params"].get("report", {}).get("tables", []):
        for row in table.get("rows", []):
            names = [row["variants"]] if isinstance(row.get("variants"), str) else row.get("variants", [])
            unknown = [v for v in names if v not in known]
            if unknown:
                raise ConfigError(
                    f"preset {name}: table {table.get('title')!r}, row {row.get('label')!r}: no variant {unknown[0]!r}"
                )


def _on_a_split(metric: str | None) -> bool:
    """test.* / val.*: an accuracy measured on one split."""
    return bool(metric) and metric.partition(".")[0] in SPLITS


def next_command(preset: dict, dataset: str | None = None) -> str:
    """What to run after apply: `dvc repro report`, or one queued experiment per dataset of a multi-dataset preset
    (unless `dataset`, the applied params' data.dataset, is another one: the run is then on that one)."""
    datasets = preset.get("datasets") or []
    if len(datasets) > 1 and (dataset is None or dataset in datasets):
        return f"dvc exp run --queue -S 'data.dataset={','.join(datasets)}' && dvc queue start (one run per dataset)"
    return "dvc repro report"


def parse_set(assignments: list[str]) -> dict:
    """['data.root=/x', 'train.epochs=3'] -> {'data': {'root': '/x'}, 'train': {'epochs': 3}} (values are YAML)."""
    out: dict = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set: expected key.path=value (got {item!r})")
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def compose(name: str, scale: str, sets: list[str] = (), presets_dir: Path = PRESETS_DIR) -> dict:
    """The complete params dict for preset `name` at `scale`."""
    preset = load_preset(name, presets_dir)
    if scale not in preset["scales"]:
        raise ConfigError(f"preset {name}: scale: expected one of {', '.join(preset['scales'])} (got {scale!r})")
    overlay = copy.deepcopy(preset["scales"][scale] or {})
    extra_claims = overlay.get("report", {}).pop("claims", [])  # a scale's claims add to the shared ones
    params = merge(merge(default_params(), preset["params"]), overlay)
    params.setdefault("report", {}).setdefault("claims", []).extend(extra_claims)
    params = merge(params, parse_set(list(sets)))
    report = params.get("report", {})
    claims = [c for c in report.get("claims", []) if scale in c.get("scales", [scale])]  # testable at this scale
    params["report"] = {**report, "preset": name, "scale": scale, "claims": _with_variants(claims, params["variants"])}
    if preset.get("datasets"):  # Holm's family spans every dataset's run (report.config.family_size)
        params["report"]["datasets"] = list(preset["datasets"])
    return params


def _with_variants(claims: list[dict], variants: dict) -> list[dict]:
    """The claims whose variants all exist (a --set may remove variants); the others are named in a warning."""
    kept = []
    for claim in claims:
        names = [
            n
            for key in ("a", "b", "series")
            for n in ([claim[key]] if isinstance(claim.get(key), str) else claim.get(key, []))
        ]
        missing = [n for n in names if n not in variants]
        if missing:
            more = f" and {len(missing) - 2} more" if len(missing) > 2 else ""
            log.warning("claim %r left out: no variant %s%s", claim.get("text"), ", ".join(missing[:2]), more)
        else:
            kept.append(claim)
    return kept


def apply_preset(
    name: str, scale: str, sets: list[str] = (), out: Path = Path("params.yaml"), presets_dir: Path = PRESETS_DIR
) -> Params:
    """Write the composed params to `out` (validated first, then renamed into place); returns them validated."""
    params = compose(name, scale, sets, presets_dir)
    header = (
        f"# Generated by `finegrain presets apply {name} --scale {scale}"
        + "".join(f" --set {s}" for s in sets)
        + f"` from presets/{name}.yaml.\n# Vary it with `dvc exp run -S ...`; re-apply to start over.\n"
    )
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(header + yaml.safe_dump(params, sort_keys=False, width=120))
    try:
        validated = load_params(tmp, machine=False)  # a preset may be composed here to run on a GPU elsewhere
    except ConfigError as err:
        tmp.unlink()
        raise ConfigError(f"preset {name} --scale {scale}: {str(err).replace(str(tmp), str(out))}") from None
    os.replace(tmp, out)
    other = other_dataset_claims(validated.report, validated.data.dataset)
    if other:
        log.warning("%s", other)
    return validated
