"""Applications built on the library: the fit / evaluate pipeline, the demo, the paper's
experiments, profiling, nested tuning, maps. Nothing outside `apps/` and `cli.py` imports from
here."""
