"""How a run runs, below every layer: which process does what (ranks: Accelerate,
threads), the seeds of every unit (seeds), and SLURM's preemption signal held until
the run is between two units (preemption)."""
