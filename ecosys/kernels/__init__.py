"""The computations an iteration is made of, on arrays and modules, each unaware of the
schedule: fine-tune (train, ensemble: M models as one batched step), score (evaluate),
continue prompts (generate, decode), pool and redistribute (pooling). A phase body in
ecosys/schedule/phases/ calls them; what runs when, and what is committed, is not theirs."""
