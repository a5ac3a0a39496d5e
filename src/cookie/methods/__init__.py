"""Methods: CooKIE, GFactorCL and baselines as objectives over per-view encoders."""
