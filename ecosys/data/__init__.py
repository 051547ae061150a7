"""Where text comes from: the synthetic world (p_data known exactly), corpora as blocks
of token ids with the N-block budget and its segmentation, and the hub (local files
first, one clear line when neither they nor the hub are there)."""
