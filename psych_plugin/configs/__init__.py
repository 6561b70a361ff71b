"""Axolotl YAML: templates and presets -> one generated config, its checks, the GPU memory
estimate, the hardware detector and the pre-training preflight."""
