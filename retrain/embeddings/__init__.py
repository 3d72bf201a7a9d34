"""Embeddings of drawings: extraction, similar-drawing search, dataset audit and its report.

One module per job: extract.py (model folder + records -> float32 [N, D]), search.py (exact and ANN
top-k), audit.py (duplicates, leaks, label errors, outliers; heads.py and label_errors.py: confident learning), report.py (JSON, text, PNG grids),
cli.py (`qdretrain similar` / `qdretrain audit`).
"""
