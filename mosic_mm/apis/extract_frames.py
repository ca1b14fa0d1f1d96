"""Filling the frame cache of a training config (``tools/extract_frames.py``;
docs/benchmarks.md, "Input pipeline").

Per video of ``train_dataloader.dataset``, decodes the frames training clips
can use (:func:`~mosic_mm.datasets.frame_cache.cache_frame_indices`) at full
size, resizes them with the config's antialiased filter to the size
``LoadClip`` serves (its ``decode_size``, else the ``ClipResize`` right after
it, else a given size) and writes one file per video atomically. Training
reads the cache with ``LoadClip(decode_size=(H, W), frame_cache=True)``.
"""
import copy
import os
import os.path as osp
import time
from typing import Optional, Sequence, Tuple

import numpy as np

from mosic_mm.datasets.transforms.sampling import pipeline_clip_sampler
from mosic_mm.utils.config import load_config, registry_scope

from .common import job_logger


def plan_from_config(cfg, size=None, cache_dir=None) -> dict:
    """Dataset config (no pipeline), its clip sampler, cached size (h, w),
    resize filter and the configured cache dir (or None) from a training
    config."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    pipeline = list(ds_cfg.pop('pipeline', []))
    sampler = pipeline_clip_sampler(
        pipeline, f'{cfg.filename}: train_dataloader.dataset.pipeline')
    ds_cfg.update(pipeline=[], min_frames=sampler.clip_len)
    load = next((s for s in pipeline if s.get('type') == 'LoadClip'), None)
    if load is None:
        raise ValueError(f'{cfg.filename}: the train pipeline has no LoadClip')
    after = pipeline[pipeline.index(load) + 1:]
    interpolation = load.get('interpolation', 'bilinear')
    if size is None and load.get('decode_size') is not None:
        size = tuple(load['decode_size'])
    if size is None and after and after[0].get('type') == 'ClipResize':
        scale = after[0].get('scale', (224, 224))
        size = (scale, scale) if isinstance(scale, int) else (scale[1],
                                                              scale[0])
        interpolation = after[0].get('interpolation', 'bilinear')
    if size is None:
        raise ValueError(
            f'{cfg.filename}: cannot tell the cached frame size (LoadClip has '
            'no decode_size and no ClipResize follows it); pass --size H W')
    return dict(dataset=ds_cfg, sampler=sampler,
                size=tuple(int(v) for v in size),
                interpolation=interpolation,
                cache_dir=cache_dir or load.get('frame_cache_dir'))


def extract_frames(config: str, *, size: Optional[Sequence[int]] = None,
                   encoding: str = 'raw', quality: int = 95,
                   all_frames: bool = False, cache_dir: Optional[str] = None,
                   shard: Tuple[int, int] = (0, 1), overwrite: bool = False,
                   limit: Optional[int] = None,
                   cfg_options: Optional[dict] = None) -> int:
    """Fill the frame cache of the training config ``config``: per video,
    the frames clips can use (every frame with ``all_frames``) at the size
    ``LoadClip`` serves (:func:`plan_from_config`; ``size`` (h, w) when the
    config does not tell), ``encoding`` 'raw' or 'jpeg' (at ``quality``),
    one file per video, atomically; videos ``I, I+N, ...`` for ``shard=(I,
    N)``; finished videos skipped, files with other settings rewritten
    only with ``overwrite``; ``limit``: the first N videos only.

    Returns:
        int: the exit status, 1 if any video failed.
    """
    import mosic_mm  # noqa: F401
    cfg = load_config(config, cfg_options)
    with registry_scope(cfg):
        return _extract_frames(cfg, size, encoding, quality, all_frames,
                               cache_dir, shard, overwrite, limit)


def _extract_frames(cfg, size, encoding, quality, all_frames, cache_dir,
                    shard, overwrite, limit) -> int:
    from mosic_mm.datasets.frame_cache import (
        FrameCacheError,
        cache_frame_indices,
        decode_for_cache,
        default_frame_cache_dir,
        frame_cache_path,
        read_frame_header,
        write_frame_file,
    )
    from mosic_mm.registry import DATASETS

    logger = job_logger('extract_frames')
    plan = plan_from_config(cfg, size, cache_dir)
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f'shard must be (I, N) with 0 <= I < N, got {shard}')
    dataset = DATASETS.build(plan['dataset'])
    cache_dir = plan['cache_dir'] or default_frame_cache_dir(
        dataset.data_root, plan['size'])
    infos = sorted((dataset.get_data_info(i) for i in range(len(dataset))),
                   key=lambda i: i['video_id'])[:limit][index::count]
    stale = 0
    if count == 1 and osp.isdir(cache_dir):  # leftovers of a killed run
        for root, _, files in os.walk(cache_dir):
            for f in files:
                if f.startswith('.tmp_') and f.endswith('.frames'):
                    os.remove(osp.join(root, f))
                    stale += 1
    logger.info(f'caching {len(infos)} videos at {plan["size"]} '
                f'({encoding}) into {cache_dir}')
    done = skipped = frames = nbytes = 0
    failed = []
    start = time.perf_counter()
    for info in infos:
        vid = info['video_id']
        try:
            path = frame_cache_path(cache_dir, vid)
            inds = (np.arange(info['total_frames']) if all_frames else
                    cache_frame_indices(info['total_frames'],
                                        plan['sampler']))
            if osp.isfile(path):
                try:
                    h = read_frame_header(path)
                    diff = [k for k, v in dict(
                        size=list(plan['size']), encoding=encoding,
                        interpolation=plan['interpolation'],
                        total_frames=info['total_frames']).items()
                        if h.get(k) != v]
                    if set(inds.tolist()) - set(h['frame_inds']):
                        diff.append('frame_inds')
                except FrameCacheError as e:
                    diff = [str(e)]
                if not diff:
                    skipped += 1
                    continue
                if not overwrite:
                    failed.append((vid, f'{path} differs in {diff}; use '
                                   '--overwrite'))
                    continue
            imgs, src = decode_for_cache(info, inds, plan['size'],
                                         plan['interpolation'])
            nbytes += write_frame_file(path, vid, imgs, inds,
                                       info['total_frames'], src,
                                       plan['interpolation'], encoding,
                                       quality)
            frames += len(inds)
            done += 1
        except KeyboardInterrupt:
            raise
        except Exception as e:  # report and go on with the next video
            failed.append((vid, f'{type(e).__name__}: {e}'))
    seconds = time.perf_counter() - start
    lines = [f'frame cache {cache_dir}: {done} done, {skipped} skipped '
             f'(already there), {len(failed)} failed, of {len(infos)} videos;'
             f' {frames} frames, {nbytes / 2**20:.1f} MiB in {seconds:.1f} s']
    if stale:
        lines.append(f'  removed {stale} temporary file(s) of an interrupted '
                     'run')
    lines += [f'  FAILED {vid}: {why}' for vid, why in failed]
    logger.info('\n'.join(lines))
    return 1 if failed else 0
