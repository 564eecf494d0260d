"""Scripts that reproduce every file shipped in ``adagen_env/data`` and ``adagen_env/weights``."""
