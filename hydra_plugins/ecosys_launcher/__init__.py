"""ecosys's Hydra launcher plugin (hydra_plugins is Hydra's namespace for plugins: it
imports every module under it to find them). `launcher` packs cells into SLURM jobs."""
