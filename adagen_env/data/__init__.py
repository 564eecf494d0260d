"""The data layer: the embedded digits, a user's own images, sample grids, and the data files the registry reads."""
