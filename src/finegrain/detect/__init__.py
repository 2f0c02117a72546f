"""MMDetection detectors for the crop stage: config building, a time/iteration-budgeted training loop, batched
inference and plain-dict checkpoints that `mmdet.apis.init_detector` loads.

mmdet is imported lazily inside these modules' functions' callers; importing `finegrain.detect` alone is cheap.
"""
