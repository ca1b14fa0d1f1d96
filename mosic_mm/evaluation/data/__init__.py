"""The evaluation datasets: one registry of readers (the real layouts of
the paper benchmarks and the synthetic ones, :mod:`.readers`), file
readers (:mod:`.files`), Hummingbird's training fractions
(:mod:`.splits`) and the synthetic data the fast presets run on when no
data root is given (:mod:`.synthetic`)."""
from typing import Callable, Dict

from .readers import (SegImageSet, SegVideoSet, ade20k, davis2017,
                      synthetic_frames, synthetic_videos, voc2012, ytvos2019)
from .synthetic import (DEFAULT_VIDEOS, FAST_LAYOUTS,
                        ensure_synthetic_videos, synthetic_layout)

__all__ = ['EVAL_DATASETS', 'build_eval_dataset', 'default_root',
           'SegImageSet', 'SegVideoSet', 'synthetic_layout',
           'ensure_synthetic_videos', 'FAST_LAYOUTS', 'DEFAULT_VIDEOS']

#: name -> reader(root, split, **reader_args) -> SegImageSet | SegVideoSet
EVAL_DATASETS: Dict[str, Callable] = dict(
    voc2012=voc2012, ade20k=ade20k, davis2017=davis2017,
    ytvos2019=ytvos2019, synthetic_frames=synthetic_frames,
    synthetic_videos=synthetic_videos)


def build_eval_dataset(name: str, root: str, split: str, **reader_args):
    """The ``split`` of evaluation dataset ``name`` under ``root``."""
    if name not in EVAL_DATASETS:
        raise KeyError(f'unknown evaluation dataset {name!r}; known: '
                       f'{", ".join(EVAL_DATASETS)}')
    return EVAL_DATASETS[name](root, split, **reader_args)


def default_root(dataset: str, preset: str, root: str) -> str:
    """The data root when none is given: ``root`` (the benchmark's own)
    under the paper preset; under the fast preset synthetic data in the
    dataset's layout (written on first use)."""
    if preset == 'fast' and dataset in FAST_LAYOUTS:
        return synthetic_layout(dataset)
    return root
