"""`python -m finegrain.presets list | apply <X> [--scale cpu] [--set key.path=value ...] [--out params.yaml]`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from finegrain.errors import FinegrainError
from finegrain.presets.apply import PRESETS_DIR, apply_preset, load_preset, next_command


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m finegrain.presets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="presets, their scales and reports")
    apply = sub.add_parser("apply", help="write params.yaml for a preset at a scale")
    apply.add_argument("preset")
    apply.add_argument("--scale", default="cpu")
    apply.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE")
    apply.add_argument("--out", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s")
    try:
        if args.command == "list":
            for path in sorted(PRESETS_DIR.glob("*.yaml")):
                preset = load_preset(path.stem)
                print(f"{path.stem}  scales: {', '.join(preset['scales'])}  {preset.get('description', '')}")
            return 0
        params = apply_preset(args.preset, args.scale, args.sets, args.out)
    except FinegrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"{args.out}: preset {args.preset}, scale {args.scale}: {len(params.variants)} variants, "
        f"{len(params.report.claims)} claims, dataset {params.data.dataset}. "
        f"Next: {next_command(load_preset(args.preset))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
