"""Losses: cross-entropy (hard or soft targets), triplet and triplet + CE (report B), elastic-net penalty (report E)."""
