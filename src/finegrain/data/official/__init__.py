"""The official datasets: each module holds its files (URL, checksum, the source of both) beside its reader.

Readers take the extracted official layout: `data.root` for source `local`, data/raw/<dataset>/ (which the download
stage fills) for `official` and `mirror`. Modules here import the registry only inside functions, so the registry
can import them at load time.
"""
