"""The run directory, the source of truth of a run: its file names and unit order
(layout), atomic commits with checksums and the lock (store), the metrics rows merged
from committed units (summary), and its mirror in W&B (tracking, wandb_files). layout
and wandb_files are torch-free: the analysis imports them, so this file imports
nothing."""
