"""Self-supervised pretraining (SimCLR with lightly's loss, heads and transforms) of finegrain's backbones."""
