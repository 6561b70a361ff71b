"""The Axolotl integration proper: the plugin, its config keys, the prompt strategy and the model
card. The prompt template itself is `psych_plugin.prompts`. See README.md here."""
