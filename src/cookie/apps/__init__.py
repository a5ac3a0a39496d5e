"""Applications built on the library: the fit/evaluate pipeline, the demo, experiments,
profiling, tuning, maps. Nothing outside apps/ and cli.py imports from here."""
