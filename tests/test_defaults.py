"""One source of defaults: params.yaml states every schema default (and nothing else) outside the run's content,
and presets compose from those same defaults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from conftest import REPO

from finegrain.data.catalog import DATA_INPUTS
from finegrain.models.names import INITS
from finegrain.params import RUN_CONTENT, Params, default_params
from finegrain.presets.apply import compose
from finegrain.train.config import TrainCfg

RAW = yaml.safe_load((REPO / "params.yaml").read_text())
RUN_KEYS: dict[str, str] = {}
"""Keys inside default groups that name the run's variants (left out of the comparison)."""


def _defaults_part(group: str, values: dict) -> dict:
    return {k: v for k, v in values.items() if k != RUN_KEYS.get(group)}


def _normalised(group: str, raw: dict) -> dict:
    """A params.yaml group as the schema reads it (e.g. eps '4/255' -> 0.0157), JSON types."""
    if group == "train":
        cfg = TrainCfg(data=DATA_INPUTS[0], init=INITS[0], **raw)
        return cfg.model_dump(mode="json", exclude={"data", "init"})
    return Params(**{group: raw}).model_dump(mode="json")[group]


def _differences(given: Any, default: Any, where: str, values: bool = True) -> Iterator[str]:
    """Each key missing from `given` or not in `default`, and (with `values`) each value that differs."""
    if isinstance(default, dict) and isinstance(given, dict) and default:
        for key in sorted(set(given) | set(default)):
            if key not in given:
                yield f"{where}.{key}: missing from params.yaml (schema default {default[key]!r})"
            elif key not in default:
                yield f"{where}.{key}: not in the schema"
            else:
                yield from _differences(given[key], default[key], f"{where}.{key}", values)
    elif values and given != default:
        yield f"{where}: params.yaml {given!r} != schema default {default!r}"


def test_params_yaml_states_every_schema_default():
    defaults = default_params()
    assert set(RAW) == set(defaults) | set(RUN_CONTENT), "params.yaml's groups are the schema's"
    differences = []
    for group, default in defaults.items():
        default, given = _defaults_part(group, default), _defaults_part(group, RAW[group])
        normalised = _defaults_part(group, _normalised(group, given))
        differences += _differences(given, default, group, values=False)  # every key written out...
        differences += _differences(normalised, default, group)  # ...at its default value
    assert not differences, "params.yaml and the schema disagree:\n" + "\n".join(sorted(set(differences)))


def test_differences_are_named_key_by_key():
    defaults = default_params()
    changed = {**RAW["train"], "epochs": defaults["train"]["epochs"] + 1}
    assert list(_differences(_normalised("train", changed), defaults["train"], "train")) == [
        f"train.epochs: params.yaml {defaults['train']['epochs'] + 1} != schema default {defaults['train']['epochs']}"
    ]


def test_presets_compose_from_the_committed_defaults(tmp_path):
    (tmp_path / "empty.yaml").write_text(yaml.safe_dump({"params": {"variants": RAW["variants"]}, "scales": {"s": {}}}))
    composed = compose("empty", "s", presets_dir=tmp_path)
    for group in default_params():
        assert _defaults_part(group, composed[group]) == _defaults_part(group, _normalised(group, RAW[group])), group
