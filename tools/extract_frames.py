"""Fill the frame cache of a training config (docs/benchmarks.md, "Input
pipeline").

    python tools/extract_frames.py CONFIG [--size H W] [--encoding raw|jpeg]
        [--quality Q] [--all-frames] [--cache-dir DIR] [--shard I/N]
        [--overwrite] [--cfg-options k=v ...]

Per video of ``train_dataloader.dataset``, decodes the frames training clips
can use (:func:`cache_frame_indices`; ``--all-frames`` for every frame) at
full size, resizes them with the config's antialiased filter to the size
``LoadClip`` serves (its ``decode_size``, else the ``ClipResize`` right after
it, else ``--size``) and writes one file per video atomically. Finished
videos are skipped (resumable); ``--shard I/N`` splits the videos over N
processes. Training reads the cache with
``LoadClip(decode_size=(H, W), frame_cache=True)``. Exit code 1 if any video
failed.
"""
import argparse
import copy
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Extract the frame cache')
    p.add_argument('config', help='training config')
    p.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                   help="cached frame size; default LoadClip's decode_size "
                   'or the ClipResize after it')
    p.add_argument('--encoding', default='raw', choices=['raw', 'jpeg'],
                   help='raw: exact uint8, memory-mapped (default); jpeg: '
                   '~10x smaller, re-encoding error')
    p.add_argument('--quality', type=int, default=95, help='JPEG quality')
    p.add_argument('--all-frames', action='store_true',
                   help='cache every frame, not only those clips can use')
    p.add_argument('--cache-dir', help="default: LoadClip's frame_cache_dir "
                   'or <data_root>/frame_cache/<H>x<W>')
    p.add_argument('--shard', default='0/1', help='I/N: this process does '
                   'videos I, I+N, ...')
    p.add_argument('--overwrite', action='store_true',
                   help='rewrite files extracted with other settings')
    p.add_argument('--limit', type=int, help='only the first N videos')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def plan_from_config(cfg, size=None, cache_dir=None) -> dict:
    """Dataset config (no pipeline), cached size (h, w), resize filter and
    the configured cache dir (or None) from a training config."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    pipeline = list(ds_cfg.pop('pipeline', []))
    ds_cfg['pipeline'] = []
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
    return dict(dataset=ds_cfg, size=tuple(int(v) for v in size),
                interpolation=interpolation,
                cache_dir=cache_dir or load.get('frame_cache_dir'))


def run(args) -> int:
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import mosic_mm  # noqa: F401
    from mosic_mm.datasets.frame_cache import (FrameCacheError,
                                               cache_frame_indices,
                                               decode_for_cache,
                                               default_frame_cache_dir,
                                               frame_cache_path,
                                               read_frame_header,
                                               write_frame_file)
    from mosic_mm.registry import DATASETS

    logger = (MMLogger.get_instance('extract_frames')
              if MMLogger.check_instance_created('extract_frames') else
              MMLogger.get_instance('extract_frames', log_level='INFO'))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    plan = plan_from_config(cfg, args.size, args.cache_dir)
    try:
        index, count = (int(v) for v in args.shard.split('/'))
        assert 0 <= index < count
    except (ValueError, AssertionError):
        sys.exit(f'--shard must be I/N with 0 <= I < N, got {args.shard!r}')
    dataset = DATASETS.build(plan['dataset'])
    cache_dir = plan['cache_dir'] or default_frame_cache_dir(
        dataset.data_root, plan['size'])
    infos = sorted((dataset.get_data_info(i) for i in range(len(dataset))),
                   key=lambda i: i['video_id'])[:args.limit][index::count]
    stale = 0
    if count == 1 and osp.isdir(cache_dir):  # leftovers of a killed run
        for root, _, files in os.walk(cache_dir):
            for f in files:
                if f.startswith('.tmp_') and f.endswith('.frames'):
                    os.remove(osp.join(root, f))
                    stale += 1
    logger.info(f'caching {len(infos)} videos at {plan["size"]} '
                f'({args.encoding}) into {cache_dir}')
    done = skipped = frames = nbytes = 0
    failed = []
    start = time.perf_counter()
    for info in infos:
        vid = info['video_id']
        try:
            path = frame_cache_path(cache_dir, vid)
            inds = (np.arange(info['total_frames']) if args.all_frames else
                    cache_frame_indices(info['total_frames'], dataset.clip_len,
                                        dataset.frame_stride,
                                        dataset.window_step))
            if osp.isfile(path):
                try:
                    h = read_frame_header(path)
                    diff = [k for k, v in dict(
                        size=list(plan['size']), encoding=args.encoding,
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
                if not args.overwrite:
                    failed.append((vid, f'{path} differs in {diff}; use '
                                   '--overwrite'))
                    continue
            imgs, src = decode_for_cache(info, inds, plan['size'],
                                         plan['interpolation'])
            nbytes += write_frame_file(path, vid, imgs, inds,
                                       info['total_frames'], src,
                                       plan['interpolation'], args.encoding,
                                       args.quality)
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


def main(argv=None):
    sys.exit(run(parse_args(argv)))


if __name__ == '__main__':
    main()
