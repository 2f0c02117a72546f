"""Explanations of a trained classifier: Grad-CAM overlays, feature-map grids and a faithfulness number."""
