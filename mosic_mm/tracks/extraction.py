"""Filling the track cache of a training config (``tools/extract_tracks.py``,
docs/tracks.md).

For every video of ``train_dataloader.dataset`` (of each of its
``datasets`` for a mix) and every clip window its pipeline's ``SampleClip``
can pick (:meth:`SampleClip.starts`: multiples of its ``window_step``), runs
the rest of the pipeline up to its ``LoadTracks``/``TrackPoints`` step (the
deterministic prefix, e.g. ``LoadClip`` + ``ClipResize``), tracks a query
grid on the window's first frame and writes one file per video, atomically.
Finished videos are skipped (resumable; an interrupted run loses at most the
video in flight), empty or truncated files are replaced, files extracted
with other settings need ``overwrite``; videos are split over ranks.

At Kinetics scale a resume must not open every finished file to check it:
each rank appends ``<video id> <file size>`` for every video it finished (or
found finished) to a manifest,
``<cache_dir>/.manifest/<settings digest>/rank<r>.txt``; a later run, with
any number of ranks, skips a video of the manifests of the same settings
(:func:`settings_digest`) whose file still has that size (one ``stat``, no
open); other files are checked as before (damaged ones replaced).
"""
import copy
import hashlib
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

import numpy as np
from mmengine.config import Config

from mosic_mm.datasets.transforms.sampling import pipeline_clip_sampler

TRACK_STEPS = ('LoadTracks', 'TrackPoints')


def _is_random(step_type: str) -> bool:
    return 'Random' in step_type or 'Flip' in step_type


def dataset_cfgs(cfg: Config) -> List[dict]:
    """The training dataset config, or each dataset of a mix (a
    ``MixedVideoDataset``'s ``datasets``)."""
    ds_cfg = cfg.train_dataloader.dataset
    return list(ds_cfg['datasets']) if 'datasets' in ds_cfg else [ds_cfg]


def make_plan(cfg: Config, tracker: str = None, checkpoint: str = None,
              cache_dir: str = None, dataset_cfg: dict = None) -> dict:
    """What to extract: the dataset config (without pipeline), its clip
    sampler (built), the pipeline prefix, tracker config, grid size and the
    (unresolved) cache dir. ``dataset_cfg``: one of :func:`dataset_cfgs`
    (default the training dataset)."""
    ds_cfg = copy.deepcopy(dataset_cfg or cfg.train_dataloader.dataset)
    pipeline = list(ds_cfg.get('pipeline', []))
    sampler = pipeline_clip_sampler(
        pipeline, f'{cfg.filename}: train_dataloader.dataset.pipeline')
    pipeline = [s for s in pipeline if s.get('type') != 'SampleClip']
    pos = [i for i, s in enumerate(pipeline) if s.get('type') in TRACK_STEPS]
    if not pos:
        raise ValueError(
            f'{cfg.filename}: train_dataloader.dataset.pipeline has no '
            f'{" or ".join(TRACK_STEPS)} step; nothing to extract')
    step = pipeline[pos[0]]
    prefix = pipeline[:pos[0]]
    random_steps = [s['type'] for s in prefix if _is_random(str(s['type']))]
    if random_steps:
        raise ValueError(
            f'{cfg.filename}: the pipeline before {step["type"]} has random '
            f'transforms {random_steps}; cached tracks must be computed on '
            'deterministic images. Move them after the tracking step.')
    tracker_cfg = dict(step.get('tracker') or dict(type='DISFlowTracker'))
    if tracker and tracker != tracker_cfg.get('type'):
        tracker_cfg = dict(type=tracker)  # other tracker: its own defaults
    if checkpoint:
        tracker_cfg['checkpoint'] = checkpoint
    ds_cfg.update(pipeline=[], min_frames=sampler.clip_len)
    return dict(dataset=ds_cfg, sampler=sampler, prefix=prefix,
                tracker=tracker_cfg,
                grid_size=int(step.get('grid_size', 16)),
                cache_dir=cache_dir or (step.get('cache_dir') if
                                        step['type'] == 'LoadTracks' else
                                        None))


def expected_header(info: dict, plan: dict) -> dict:
    """Header fields a video's file must have (frame size aside)."""
    sampler = plan['sampler']
    total = int(info['total_frames'])
    return dict(video_id=info['video_id'], tracker=plan['tracker'],
                grid_size=plan['grid_size'], clip_len=sampler.clip_len,
                stride=sampler.step(total),
                frame_stride=sampler.frame_stride,
                window_step=sampler.window_step, total_frames=total,
                window_starts=sampler.starts(total).tolist())


def extract_video(info: dict, plan: dict, prefix, tracker,
                  path: str) -> int:
    """Track every window of one video and write its cache file.

    Returns:
        int: frames tracked.
    """
    from mosic_mm.tracks.cache import make_header, write_track_file
    from mosic_mm.tracks.transforms import track_grid
    exp = expected_header(info, plan)
    tracks, vis, frame_size = [], [], None
    steps = exp['stride'] * np.arange(exp['clip_len'], dtype=np.int64)
    for start in exp['window_starts']:
        results = copy.deepcopy(info)
        results['frame_inds'] = start + steps
        results = prefix(results)
        if results is None:
            raise RuntimeError('the pipeline prefix dropped the clip')
        imgs = results['imgs']
        if frame_size is None:
            frame_size = list(imgs.shape[1:3])
        elif list(imgs.shape[1:3]) != frame_size:
            raise RuntimeError(f'window {start} has frames of size '
                               f'{imgs.shape[1:3]}, others {frame_size}')
        tr, v = track_grid(tracker, imgs, plan['grid_size'], clip=results)
        tracks.append(tr)
        vis.append(v)
    header = make_header(frame_size=frame_size,
                         **{k: v for k, v in exp.items()})
    write_track_file(path, header, np.stack(tracks), np.stack(vis))
    return len(exp['window_starts']) * exp['clip_len']


def settings_digest(plan: dict) -> str:
    """12 hex digits naming the settings every file of a cache shares (the
    tracker, grid, clip geometry and pipeline prefix)."""
    sampler = plan['sampler']
    settings = dict(tracker=plan['tracker'], grid_size=plan['grid_size'],
                    prefix=plan['prefix'], clip_len=sampler.clip_len,
                    frame_stride=sampler.frame_stride,
                    window_step=sampler.window_step,
                    start_rule=sampler.start_rule)
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]


def read_manifest(path: str) -> Dict[str, int]:
    """``{video id: file size}`` of one manifest file (later lines win; a
    torn line of a killed run is ignored or names no real video)."""
    done: Dict[str, int] = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            vid, _, size = line.rstrip('\n').rpartition(' ')
            if vid and size.isdigit():
                done[vid] = int(size)
    return done


def read_manifests(folder: str) -> Dict[str, int]:
    """:func:`read_manifest` of every ``rank*.txt`` of ``folder``."""
    done: Dict[str, int] = {}
    if osp.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.startswith('rank') and name.endswith('.txt'):
                done.update(read_manifest(osp.join(folder, name)))
    return done


def _finished(path: str, size: Optional[int]) -> bool:
    """The manifest lists the file with its current size."""
    try:
        return size is not None and os.stat(path).st_size == size
    except FileNotFoundError:
        return False


def _remove_stale_temporaries(cache_dir: str) -> int:
    removed = 0
    for root, _, files in os.walk(cache_dir):
        for f in files:
            if f.startswith('.tmp_') and f.endswith('.npz'):
                os.remove(osp.join(root, f))
                removed += 1
    return removed


def fill_track_cache(cfg: Config, tracker: Optional[str] = None,
                     checkpoint: Optional[str] = None,
                     cache_dir: Optional[str] = None,
                     overwrite: bool = False, limit: Optional[int] = None,
                     logger=None) -> int:
    """Fill the track cache of the training config ``cfg`` on this rank
    (the process group, if any, exists already; videos are split over the
    ranks; registries build in the caller's scope). ``tracker`` /
    ``checkpoint``: another tracker type / its weights; ``cache_dir``:
    default ``LoadTracks.cache_dir`` or
    ``<data_root>/track_cache/<tracker type>``; ``overwrite``: re-extract
    files written with other settings (else they count as failed);
    ``limit``: only the first N videos.

    Returns:
        int: the exit status, 1 if any video of any rank failed (of any
        dataset of a mix).
    """
    from mmengine.logging import MMLogger
    logger = logger or MMLogger.get_current_instance()
    datasets = dataset_cfgs(cfg)
    if cache_dir and len(datasets) > 1:
        raise ValueError(
            f'{cfg.filename} mixes {len(datasets)} datasets, each with its '
            'own track cache (under its data_root or its '
            'LoadTracks.cache_dir); a single --cache-dir would mix their '
            'files')
    status = 0
    for ds_cfg in datasets:
        plan = make_plan(cfg, tracker, checkpoint, cache_dir, ds_cfg)
        status = max(status, _extract_dataset(cfg.filename, plan, overwrite,
                                              limit, logger))
    return status


def _extract_dataset(config: str, plan: dict, overwrite: bool,
                     limit: Optional[int], logger) -> int:
    """:func:`fill_track_cache` for the one dataset of ``plan``."""
    from mmcv.transforms import Compose
    from mmengine.dist import (
        all_gather_object,
        barrier,
        get_dist_info,
        is_main_process,
    )
    from tqdm import tqdm

    from mosic_mm.datasets.video_dataset import video_id_getter
    from mosic_mm.registry import DATASETS, TRANSFORMS
    from mosic_mm.tracks.cache import (
        TrackCacheError,
        UnreadableTrackFile,
        cache_path,
        default_cache_dir,
        header_mismatch,
        read_header,
    )
    from mosic_mm.tracks.trackers import build_tracker

    rank, world = get_dist_info()
    dataset = DATASETS.build(plan['dataset'])  # synthetic: written by rank 0
    prefix = Compose([TRANSFORMS.build(copy.deepcopy(s))
                      for s in plan['prefix']])
    cache_dir = plan['cache_dir'] or default_cache_dir(
        dataset.data_root, plan['tracker']['type'])
    if plan['sampler'].window_step is None and is_main_process():
        logger.warning(
            'SampleClip has window_step=None: every start frame is a window '
            '(one tracked clip per frame of each video); set window_step')

    video_id = video_id_getter(dataset)
    order = sorted(range(len(dataset)), key=video_id)
    if limit is not None:
        order = order[:limit]
    shard = order[rank::world]
    manifest_dir = osp.join(cache_dir, '.manifest',
                            settings_digest(plan))
    barrier()
    stale = _remove_stale_temporaries(cache_dir) if (
        is_main_process() and osp.isdir(cache_dir)) else 0
    barrier()
    finished = read_manifests(manifest_dir)
    os.makedirs(manifest_dir, exist_ok=True)
    manifest = open(osp.join(manifest_dir, f'rank{rank}.txt'), 'a',
                    encoding='utf-8')
    if is_main_process():
        logger.info(f'extracting {len(order)} videos of {config} with '
                    f'{plan["tracker"]} (grid {plan["grid_size"]}, '
                    f'window_step {plan["sampler"].window_step}) into '
                    f'{cache_dir} on {world} rank(s); {len(finished)} '
                    'finished videos in '
                    f'the manifests of {manifest_dir}')

    built_tracker = None
    done = skipped = frames = 0
    failed, replaced = [], []
    start = time.perf_counter()
    bar = tqdm(shard, desc=f'rank {rank}', unit='video', position=rank,
               dynamic_ncols=True, disable=not shard)
    for i in bar:
        vid = video_id(i)
        try:
            path = cache_path(cache_dir, vid)
            if _finished(path, finished.get(vid)):
                skipped += 1
                continue
            info = dict(dataset.get_data_info(i), data_root=dataset.data_root)
            if osp.isfile(path):
                unreadable = False
                try:
                    header = read_header(path)
                    exp = expected_header(info, plan)
                    diff = header_mismatch(header, exp)
                except UnreadableTrackFile as e:  # empty/truncated: replace
                    diff, unreadable = [str(e)], True
                    replaced.append(path)
                except TrackCacheError as e:
                    diff = [str(e)]
                if not diff:
                    skipped += 1
                    manifest.write(f'{vid} {os.stat(path).st_size}\n')
                    continue
                if not overwrite and not unreadable:
                    failed.append((vid, f'{path} has other settings ('
                                   f'{"; ".join(diff)}); use --overwrite'))
                    continue
            if built_tracker is None:
                built_tracker = build_tracker(copy.deepcopy(plan['tracker']))
            frames += extract_video(info, plan, prefix,
                                    built_tracker, path)
            done += 1
            manifest.write(f'{vid} {os.stat(path).st_size}\n')
            manifest.flush()  # a kill -9 keeps what the kernel has
        except KeyboardInterrupt:
            raise
        except Exception as e:  # report and go on with the next video
            failed.append((vid, f'{type(e).__name__}: {e}'))
        elapsed = time.perf_counter() - start
        bar.set_postfix(done=done, skipped=skipped, failed=len(failed),
                        fps=f'{frames / max(elapsed, 1e-9):.1f}')
    bar.close()
    manifest.close()
    seconds = time.perf_counter() - start

    stats = dict(rank=rank, done=done, skipped=skipped, failed=failed,
                 frames=frames, seconds=seconds, replaced=replaced)
    all_stats = all_gather_object(stats) if world > 1 else [stats]
    if not is_main_process():
        return 1 if any(s['failed'] for s in all_stats) else 0
    total_failed = [f for s in all_stats for f in s['failed']]
    lines = [f'track cache {cache_dir}: '
             f'{sum(s["done"] for s in all_stats)} done, '
             f'{sum(s["skipped"] for s in all_stats)} skipped (already '
             f'there), {len(total_failed)} failed, of {len(order)} videos']
    for s in all_stats:
        fps = s['frames'] / s['seconds'] if s['seconds'] > 0 else 0.0
        lines.append(f'  rank {s["rank"]}: {s["done"]} done, '
                     f'{s["skipped"]} skipped, {len(s["failed"])} failed, '
                     f'{s["frames"]} frames tracked in {s["seconds"]:.1f} s '
                     f'({fps:.1f} frames/s)')
    for path in (p for s in all_stats for p in s['replaced']):
        lines.append(f'  replaced unreadable (empty/truncated) file {path}')
    if stale:
        lines.append(f'  removed {stale} temporary file(s) of an interrupted '
                     'run')
    for vid, reason in total_failed:
        lines.append(f'  FAILED {vid}: {reason}')
    logger.info('\n'.join(lines))
    return 1 if total_failed else 0
