"""`python -m finegrain.presets list|apply ...`: the same as `finegrain presets ...` (finegrain.command)."""

import sys

from finegrain.command import main

sys.exit(main(["presets", *sys.argv[1:]]))
