"""ecosys: ecosystems of language models re-trained on each other's output.

`python -m ecosys` (ecosys-run) runs one ecosystem, or a grid, from the Hydra config tree
(conf/, shipped as ecosys.conf); `python -m ecosys.sweep` (ecosys-sweep) says where a grid
stands. The layers, lower first: config/, data/, models/ (and convert/), kernels/,
measures/, runtime/, schedule/, rundir/ (README's Layout).
"""

__version__ = "0.1.0"
