"""Examples that run as they are, on CPU, with nothing downloaded: ``python -m adagen_agents.examples.NAME``."""
