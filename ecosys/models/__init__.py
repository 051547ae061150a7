"""The models: transformers modules and tokenizers (hf), where an ecosystem's base model
comes from for every `model.source` (base), and the synthetic world's pretraining
(pretrain). Checkpoints of other formats are converted by ecosys/convert/."""
