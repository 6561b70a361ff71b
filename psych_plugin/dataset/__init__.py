"""Datasets of Alpaca rows: the schema check, validation, fixing, lint, statistics and the
held-out split check. Needs only the core install (no Axolotl, no torch)."""
