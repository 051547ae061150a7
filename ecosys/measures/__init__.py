"""What is measured beside test perplexity: the paper's statistics (metrics: μ_t, μ_T,
D), the synthetic world's exact measurements against p_data (exact) and the collapse
lenses on generated text (lenses). metrics and lenses are torch-free: the analysis
imports them, so this file imports nothing."""
