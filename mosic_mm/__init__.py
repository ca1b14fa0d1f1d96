"""mosic_mm: MoSiC (ICCV 2025) as an OpenMMLab plugin.

Importing the package (configs do it through ``custom_imports``) registers its
datasets, transforms, trackers, models and hooks into mmpretrain's registries,
and applies the compatibility fixes of :mod:`mosic_mm.compat`.
"""
from .compat import (
                     defer_transformers_import,
                     register_atomic_local_backend,
                     register_checkpoint_safe_globals,
                     register_safe_checkpoint_rotation,
)

defer_transformers_import()
register_checkpoint_safe_globals()
register_atomic_local_backend()
register_safe_checkpoint_rotation()

from . import datasets, engine, models, tracks  # noqa: E402,F401

__version__ = '0.1.0'
