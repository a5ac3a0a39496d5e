"""Step 4's driver: the estimator, the Lightning module, data loaders, progress."""
