"""Benchmark-only code (never used in training), behind
``mosic_mm.apis.benchmark*`` and ``mosic_mm.apis.gpu_check``: the reference
implementation's way of computing the MoSiC loss (reference.py), timing and
memory measurement (measure.py), and the input-pipeline benchmark's data
(input_data.py), modes (input_pipeline.py), video decode profile
(decode_profile.py) and GPU-demand arithmetic (gpu_demand.py)."""
from .reference import reference_loss

__all__ = ['reference_loss']
