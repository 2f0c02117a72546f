"""Presets: one YAML per report (presets/<X>.yaml) that `apply` turns into a complete, validated params.yaml."""

from finegrain.presets.apply import apply_preset, compose, load_preset

__all__ = ["apply_preset", "compose", "load_preset"]
