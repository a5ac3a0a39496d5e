"""Networks: per-view encoders, projection heads and critics, augmentations."""
