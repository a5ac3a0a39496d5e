"""Encoders, heads, critics and augmentations (plain torch)."""
