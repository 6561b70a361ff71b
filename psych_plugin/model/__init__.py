"""Models: the embedded tiny Qwen3, inference with the trained adapter, evaluation, merging."""
