"""The speed bench beside the package (`make bench`, `python -m bench`): bench/__main__.py
runs it, harness.py measures, baselines.py is the paper's plain code, rows.py ecosys's side."""
