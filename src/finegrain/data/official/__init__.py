"""The official datasets: each module holds its files (URL, checksum, the source of both) beside its reader.

Readers take the extracted official layout: `data.root` for source `local`, data/raw/<dataset>/ (which the download
stage fills) for `official` and `mirror`. They return finegrain.data.records types and never import the registry,
which imports them.
"""
