"""The evaluation layer: generating class-balanced samples, scoring them in feature spaces against real
images, comparing schedules on seeds, and the seed ranges that keep tuning and evaluation apart."""
