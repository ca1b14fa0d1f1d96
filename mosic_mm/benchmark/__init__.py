"""Benchmark-only code: the reference implementation's way of computing the
MoSiC loss, kept to measure ours against it (never used in training)."""
from .reference import reference_loss

__all__ = ['reference_loss']
