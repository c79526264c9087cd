"""`make bench`: the real server against baselines measured in the same run, printed as one table of ratios."""
