"""One runner per protocol: a :class:`~.benchmarks.Benchmark` (task,
dataset reader, splits) and its settings -> metrics. The dataset is read
with the reader named by ``bench.dataset`` (:mod:`.paper_data`: a real
layout or the synthetic frame folders) called with
``settings['reader_args']``; everything else the run does is a setting, so
a paper protocol and its fast presets are the same code.

Sizes: ``input_size`` None is the backbone's own ``img_size``; a mask /
evaluation size of None is the input size.

Each runner returns ``(metrics {name: value in [0, 1]}, notes [str])``.
"""
import os.path as osp
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .features import input_size
from .linear_benchmark import run_linear

__all__ = ['RUNNERS']


def _reader(bench, root: str, split: str, s: dict):
    from . import paper_data
    return getattr(paper_data, bench.dataset)(root, split,
                                              **s.get('reader_args', {}))


def _load_all(image_set, indices, size: int, progress: bool, desc: str
              ) -> Tuple[List[np.ndarray], np.ndarray]:
    """Images (original size) and masks resized (PIL nearest) to size."""
    from tqdm import tqdm

    from .data import resize_masks
    imgs, masks = [], []
    for i in tqdm(indices, desc=desc, unit='img', leave=False,
                  disable=not progress):
        img, m = image_set.load(i)
        imgs.append(img)
        masks.append(resize_masks(m[None], size)[0])
    return imgs, np.stack(masks)


def _split_file(root: str, name: str) -> Optional[str]:
    for sub in ('sets', osp.join('ImageSets', 'Segmentation')):
        p = osp.join(root, sub, name + '.txt')
        if osp.isfile(p):
            return p
    return None


def run_hummingbird(bench, vit, info, root, s, progress, **_):
    from .hummingbird_paper import hummingbird_paper_miou
    from .hummingbird_splits import split_subset
    train = _reader(bench, root, bench.splits['train'], s)
    val = _reader(bench, root, bench.splits['val'], s)
    out, notes = {}, []
    for d in s['fractions']:
        name = f'{bench.splits["train"]}_{d}_{s["split_seed"]}'
        sub, desc = split_subset(train, _split_file(root, name),
                                 None if d == 1 else d, s['split_seed'])
        notes.append(f'1/{d}: {desc}')
        r = hummingbird_paper_miou(
            vit, info, sub, val, input_size=input_size(s, info),
            memory_size=s['memory_size'],
            augmentation_epochs=s['augmentation_epochs'], k=s['k'],
            temperature=s['temperature'], seed=s['seed'], index=s['index'],
            batch_size=s['batch_size'], progress=progress)
        out[f'mIoU 1/{d}'] = float(r['mIoU'])
    return out, notes


def run_overcluster(bench, vit, info, root, s, progress, **_):
    from .features import extract_features
    from .overclustering import overcluster_paper
    val = _reader(bench, root, bench.splits['val'], s)
    n = len(val) if s['num_images'] is None else min(s['num_images'],
                                                     len(val))
    size = input_size(s, info)
    imgs, masks = _load_all(val, range(n), s['mask_size'] or size, progress,
                            'overcluster: images')
    mean, std = ((info['mean'], info['std']) if s['std'] is None else
                 (tuple(255 * m for m in s['mean']),
                  tuple(255 * x for x in s['std'])))
    feats = extract_features(vit, imgs, size, mean, std,
                             progress=progress, distributed=True)
    C = val.num_classes
    res = overcluster_paper(feats, masks, C, ks=s['ks'] or (C, 4 * C),
                            pca_dim=s['pca_dim'], niter=s['niter'],
                            seed=s['seed'], ignore_index=val.ignore_index,
                            nominal_k=s['nominal_k'],
                            pca_subsample=s['pca_subsample'],
                            pca_max_points_per_dim=s[
                                'pca_max_points_per_dim'])
    return ({f'mIoU K={k}': r['mIoU'] for k, r in res.items()},
            [f'{n} val images'])


def run_videoclust(bench, vit, info, root, s, progress, **_):
    """``s['mode']``: one TimeT mode (metric 'mIoU') or several (one
    'mIoU <mode>' each, on the same clips and features)."""
    from tqdm import tqdm

    from .features import extract_features
    from .video_clustering import timet_batches, video_clustering_paper
    vs = _reader(bench, root, bench.splits['val'], s)
    mean = tuple(255 * m for m in s['mean'])
    std = tuple(255 * x for x in s['std'])
    size = input_size(s, info)

    def extract(frames):
        return extract_features(vit, frames, size, mean, std)
    batches = timet_batches(vs, extract, batch_size=s['batch_size'],
                            num_frames=s['num_frames'], seed=s['clip_seed'],
                            eval_size=s['eval_size'] or size)
    total = -(-len(vs) // s['batch_size'])
    batches = tqdm(batches, total=total, desc=f'{bench.name}: batches',
                   leave=False, disable=not progress)
    modes = (s['mode'], ) if isinstance(s['mode'], str) else s['mode']
    if len(modes) > 1:
        batches = list(batches)
    out, notes = {}, []
    for mode in modes:
        r = video_clustering_paper(batches, mode=mode,
                                   num_clusters=s['num_clusters'],
                                   pca_dim=s['pca_dim'], niter=s['niter'],
                                   nredo=s['nredo'], seed=s['kmeans_seed'])
        out['mIoU' if len(modes) == 1 else f'mIoU {mode}'] = float(r['mIoU'])
        notes.append(f'{len(vs)} videos, {r["units"]} {mode} units')
    return out, notes


def run_propagate(bench, vit, info, root, s, progress, **_):
    from tqdm import tqdm

    from mosic_mm.models.utils import vit_patch_size

    from .davis_metrics import evaluate_video, jf_summary
    from .features import extract_features
    from .label_propagation import propagate_labels
    vs = _reader(bench, root, bench.splits['val'], s)
    p = vit_patch_size(vit)
    p = p[0] if isinstance(p, (tuple, list)) else p
    per_video = {}
    for v in tqdm(vs.videos, desc=f'{bench.name}: videos', unit='video',
                  leave=False, disable=not progress):
        frames, masks = vs.load(v)
        size = input_size(s, info)
        if not isinstance(size, int):       # native, multiple of the patch
            H, W = frames.shape[1:3]
            size = (max(p, H // p * p), max(p, W // p * p))
        feats = extract_features(vit, frames, size, info['mean'],
                                 info['std'], s['batch_size'])
        pred = propagate_labels(feats, masks[0], s['n_context'], s['radius'],
                                s['topk'], s['temperature'])
        per_video[v] = evaluate_video(masks, pred)
    js = jf_summary(per_video)
    return {'J&F': js['J&F'], 'J': js['J'], 'F': js['F']}, [
        f'{len(vs)} videos']


RUNNERS: Dict[str, Callable] = dict(
    hummingbird=run_hummingbird, overcluster=run_overcluster,
    videoclust=run_videoclust, propagate=run_propagate, linear=run_linear)
