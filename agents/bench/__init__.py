"""AdaGen-Bench: a fixed suite of scheduling tasks, RL algorithms and black-box baselines run
under one protocol, and a leaderboard with confidence intervals (``adagen bench``)."""
