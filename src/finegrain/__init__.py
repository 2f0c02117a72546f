"""finegrain: a reproducible, cached DVC pipeline for fine-grained image classification experiments."""

import sys as _sys
from pathlib import Path as _Path

__version__ = "0.1.0"

if _sys.argv and _Path(_sys.argv[0]).parent.name == "stages":  # a stage script: its numerics before torch loads
    from finegrain import numerics as _numerics

    _numerics.apply(_numerics.mode_of())
