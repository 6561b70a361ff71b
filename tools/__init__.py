"""Developer tools: mutation testing, a bulk config check. Not part of the package."""
