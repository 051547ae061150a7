"""ecosys: ecosystems of language models re-trained on each other's output.

`python -m ecosys` runs one ecosystem from a Hydra config (see conf/ and README).
"""

__version__ = "0.1.0"
