"""Synthetic data the fast presets run on when no data root is given,
written on first use (deterministic: seed 0 of :mod:`mosic_mm.synthetic`):

- each paper benchmark's dataset in its real layout (VOC 2012, ADE20K,
  DAVIS 2017, YouTube-VOS 2019; :mod:`mosic_mm.synthetic.layouts`) under
  ``.cache/synthetic_layouts/<dataset>`` of the checkout, at the sizes of
  :data:`FAST_LAYOUTS`;
- the demo's frame-folder videos (``data/synthetic``, the parameters of
  ``configs/_base_/datasets/synthetic.py``).

A layout is written into a temporary sibling folder and renamed into place
with a record of its parameters, so an interrupted write is never read and
changed parameters rewrite it. Under a process group rank 0 writes, the
others wait.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Optional

from mosic_mm import synthetic

__all__ = ['FAST_LAYOUTS', 'LAYOUT_CACHE', 'DEFAULT_VIDEOS',
           'synthetic_layout', 'ensure_synthetic_videos']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
LAYOUT_CACHE = osp.join(REPO, '.cache', 'synthetic_layouts')
#: dataset reader -> (writer of mosic_mm.synthetic, its arguments)
FAST_LAYOUTS = {
    'voc2012': (synthetic.make_voc_layout, dict(n_train=8, n_val=6,
                                                size=96)),
    'ade20k': (synthetic.make_ade_layout, dict(n_train=8, n_val=6, size=96)),
    'davis2017': (synthetic.make_davis_layout, dict(n_videos=3, n_frames=8,
                                                    size=96)),
    'ytvos2019': (synthetic.make_ytvos_layout, dict(n_videos=3, n_frames=8,
                                                    size=96)),
}
#: the demo's frame folders (written with write_dataset's defaults, which
#: are the values of configs/_base_/datasets/synthetic.py)
DEFAULT_VIDEOS = 'data/synthetic'
_RECORD = 'synthetic_layout.json'


def _on_rank0(write) -> None:
    """``write()`` on rank 0 (or without a process group), then a barrier."""
    from mmengine import dist
    if dist.get_rank() == 0:
        write()
    dist.barrier()


def synthetic_layout(dataset: str, cache_dir: Optional[str] = None) -> str:
    """The root of ``dataset``'s synthetic layout (``FAST_LAYOUTS``), written
    on first use; returns ``<cache_dir>/<dataset>`` (default cache:
    :data:`LAYOUT_CACHE`)."""
    cache_dir = cache_dir or LAYOUT_CACHE
    if dataset not in FAST_LAYOUTS:
        raise ValueError(f'no synthetic layout for {dataset!r}; known: '
                         f'{", ".join(FAST_LAYOUTS)}')
    writer, kwargs = FAST_LAYOUTS[dataset]
    record = dict(writer=writer.__name__, kwargs=kwargs, seed=0)
    root = osp.join(cache_dir, dataset)

    def current() -> bool:
        try:
            with open(osp.join(root, _RECORD)) as f:
                return json.load(f) == record
        except (OSError, ValueError):
            return False

    def write() -> None:
        if current():
            return
        os.makedirs(cache_dir, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f'.{dataset}-', dir=cache_dir)
        try:
            writer(tmp, seed=0, **kwargs)
            with open(osp.join(tmp, _RECORD), 'w') as f:
                json.dump(record, f)
            if osp.isdir(root):          # stale parameters or partial
                shutil.rmtree(root)
            os.rename(tmp, root)
        except OSError:
            if not current():           # not another process's write
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f'synthetic {dataset} layout written to {root} ('
              f'{writer.__name__} '
              f'{kwargs})', flush=True)

    _on_rank0(write)
    return root


def ensure_synthetic_videos(root: str) -> str:
    """``root`` itself; when it is the demo's default (``data/synthetic``)
    and holds no dataset yet, the synthetic videos are written there first
    (any other root must exist: its reader names what is missing)."""
    if osp.normpath(root) == osp.normpath(DEFAULT_VIDEOS) and \
            not osp.isfile(osp.join(root, 'meta.json')):
        _on_rank0(lambda: synthetic.write_dataset(root, progress=False))
    return root
