"""The Axolotl integration proper: the plugin, its config keys, the prompt strategy, the prompt
templates shared with inference, and the model card. See README.md here."""
