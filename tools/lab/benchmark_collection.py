"""Kinetics-scale collection benchmark (docs/benchmarks.md, "A collection of
650,000 videos").

    python tools/lab/benchmark_collection.py [--root /tmp/collection650k]
        [--videos 650000] [--classes 700] [--workers 4] [--remaining 2000]
        [--repeats 3] [--skip-extraction] [--markdown FILE] [--out JSON]

Generates (once, under --root) a Kinetics-like collection of hard-linked
tiny .mp4 files with its list file, then measures the dataset's cold and
warm start with the video index, the memory of the rank and of each
DataLoader worker (index vs mmengine's data list) and track extraction on 2
ranks with the manifest.
"""
import argparse
import json
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import os
import os.path as osp
import random
import shutil
import subprocess
import sys
import time
from typing import Dict

from tools.lab.lib.measure import machine_description  # noqa: E402
from tools.lab.lib.processes import torchrun_command

TEMPLATE_FRAMES = (30, 60, 120, 250)
KINETICS_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_kinetics.py')


# ------------------------------------------------------------ the collection
class _Linker:
    """Hard links to ``src``, a fresh copy of it (``src.<k>``) every
    ``per_inode`` links (ext4 allows 65,000 links per inode)."""

    def __init__(self, src: str, per_inode: int = 60000):
        self.src, self.per_inode, self.count = src, per_inode, 0

    def __call__(self, dst: str) -> None:
        k, self.count = self.count // self.per_inode, self.count + 1
        target = self.src if k == 0 else f'{self.src}.{k}'
        if not osp.exists(target):
            shutil.copyfile(self.src, target)
        os.link(target, dst)


def make_collection(root: str,
                    num_videos: int,
                    num_classes: int = 700,
                    seed: int = 0) -> dict:
    """Write the collection (see the module docstring) unless ``root``
    holds it already; returns its description and the seconds taken."""
    marker = osp.join(root, 'COLLECTION.json')
    params = dict(num_videos=num_videos,
                  num_classes=num_classes,
                  seed=seed,
                  templates=list(TEMPLATE_FRAMES))
    if osp.isfile(marker):
        with open(marker) as f:
            old = json.load(f)
        if old['params'] != params:
            raise ValueError(f'{root} holds a collection made with '
                             f'{old["params"]}, not {params}; use another '
                             '--root')
        return old
    import cv2
    import numpy as np
    start = time.perf_counter()
    tdir = osp.join(root, 'templates')
    os.makedirs(tdir, exist_ok=True)
    templates = []
    for n in TEMPLATE_FRAMES:
        path = osp.join(tdir, f'{n}.mp4')
        vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25,
                             (32, 32))
        for i in range(n):
            vw.write(np.full((32, 32, 3), (7 * i) % 256, np.uint8))
        vw.release()
        templates.append(_Linker(path))
    rng = random.Random(seed)
    lines = []
    for k in range(num_classes):
        os.makedirs(osp.join(root, 'train', f'class_{k:03d}'), exist_ok=True)
    for i in range(num_videos):
        rel = (f'class_{i % num_classes:03d}/'
               f'{rng.getrandbits(48):012x}_{i:06d}_{i + 10:06d}.mp4')
        dst = osp.join(root, 'train', rel)
        if not osp.exists(dst):
            templates[i % len(templates)](dst)
        lines.append(rel)
    with open(osp.join(root, 'train_videos.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    info = dict(params=params,
                root=root,
                seconds=round(time.perf_counter() - start, 1))
    with open(marker, 'w') as f:
        json.dump(info, f)
    return info


def dataset_cfg(root: str, index_file=None) -> dict:
    """configs/mosic_vits_kinetics.py's training dataset on ``root``,
    without pipeline; ``index_file`` as given (None: no index)."""
    from mmengine.config import Config
    cfg = Config.fromfile(KINETICS_CONFIG).train_dataloader.dataset.to_dict()
    cfg.update(data_root=root, pipeline=[], index_file=index_file)
    return cfg


# ------------------------------------------------------------ child jobs
def _child(job: str, **kw) -> dict:
    """Run ``job`` in a fresh Python process; its JSON result."""
    code = ('import json, sys, time; t = time.perf_counter(); import '
            'mosic_mm; t = time.perf_counter() - t; from tools.lab import '
            'benchmark_collection as b; r = b.JOBS[sys.argv[1]](**json.loads('
            'sys.argv[2])); r["import_s"] = t; print("RESULT " + '
            'json.dumps(r))')
    proc = subprocess.run([sys.executable, '-c', code, job,
                           json.dumps(kw)],
                          cwd=REPO,
                          capture_output=True,
                          text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f'benchmark job {job} failed:\n{out[-3000:]}')
    line = [x for x in proc.stdout.splitlines() if x.startswith('RESULT ')]
    return json.loads(line[-1][len('RESULT '):])


def _build(cfg: dict, infos_from: str = None, serialize: bool = True):
    """The dataset of ``cfg``; ``infos_from``: an index file whose entries
    stand in for the listing (mmengine's data-list path, minus the scan)."""
    from mmengine.registry import DefaultScope

    import mosic_mm  # noqa: F401
    from mosic_mm.datasets.sources.video_index import VideoIndex
    from mosic_mm.datasets.video_dataset import VideoTrajectoryDataset
    from mosic_mm.registry import DATASETS
    scan = VideoTrajectoryDataset._scan
    if infos_from:
        index = VideoIndex.load(infos_from)
        infos = [index.info(i) for i in range(len(index))]
        VideoTrajectoryDataset._scan = lambda self: (infos, {})
        cfg = dict(cfg, index_file=None, serialize_data=serialize)
        del index
    try:
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            return DATASETS.build(cfg)
    finally:
        VideoTrajectoryDataset._scan = scan


def job_start(cfg: dict) -> dict:
    """Seconds of a fresh process (``mosic_mm`` imported) to build the
    dataset from its config (``build_s``, the registry's first use
    included) and of the listing or index alone (``init_s``: its
    ``full_init``)."""
    t0 = time.perf_counter()
    ds = _build(dict(cfg, lazy_init=True))
    t1 = time.perf_counter()
    ds.full_init()
    t2 = time.perf_counter()
    ds.get_data_info(len(ds) - 1)
    return dict(build_s=t2 - t0,
                init_s=t2 - t1,
                videos=len(ds),
                rank=memory(os.getpid()))


def memory(pid: int) -> Dict[str, float]:
    """MB of ``pid``: ``rss``, ``pss``, ``uss`` (private clean + dirty),
    from ``/proc/<pid>/smaps_rollup``."""
    kb = {}
    with open(f'/proc/{pid}/smaps_rollup') as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == 'kB':
                kb[parts[0].rstrip(':')] = int(parts[1])
    mb = {k: v / 1024.0 for k, v in kb.items()}
    return dict(rss=mb['Rss'],
                pss=mb['Pss'],
                uss=mb['Private_Clean'] + mb['Private_Dirty'])


def _read_every_entry(worker_id: int) -> None:
    """worker_init_fn: this worker reads every entry once (an epoch's worth
    of random access touches every page of the entries)."""
    from torch.utils.data import get_worker_info
    ds = get_worker_info().dataset
    for i in range(len(ds)):
        ds.get_data_info(i)


def job_memory(cfg: dict, mode: str, index_file: str,
               num_workers: int) -> dict:
    """Rank and worker memory after each of ``num_workers`` forked workers
    read every entry; ``mode``: 'index' (the mapped index), 'serialized'
    (mmengine's data list pickled into one buffer) or 'list' (a Python list
    of dicts)."""
    from torch.utils.data import DataLoader
    t0 = time.perf_counter()
    ds = (_build(cfg) if mode == 'index' else _build(
        cfg, index_file, serialize=(mode == 'serialized')))
    build_s = time.perf_counter() - t0
    rank_before = memory(os.getpid())
    loader = DataLoader(ds,
                        batch_size=1,
                        num_workers=num_workers,
                        sampler=list(range(num_workers)),
                        collate_fn=lambda batch: batch,
                        worker_init_fn=_read_every_entry,
                        persistent_workers=True,
                        multiprocessing_context='fork')
    it = iter(loader)
    for _ in it:
        pass
    workers = [memory(w.pid) for w in it._workers]
    return dict(mode=mode,
                build_s=build_s,
                rank=rank_before,
                workers=workers,
                videos=len(ds))


JOBS = dict(start=job_start, memory=job_memory)


# ------------------------------------------------------------ extraction
def _extract_options(root: str, index_file: str) -> Dict[str, str]:
    """configs/mosic_vits_kinetics.py on the collection, its index, the
    StaticTracker (the bookkeeping is measured, not a tracker)."""
    return {
        'train_dataloader.dataset.data_root': root,
        'train_dataloader.dataset.index_file': index_file,
        'train_dataloader.dataset.pipeline.3.tracker.type': 'StaticTracker'
    }


def _torchrun_extract(opts: Dict[str, str]) -> dict:
    """tools/extract_tracks.py on 2 ranks (gloo): wall seconds and each
    rank's summary line."""
    cmd = [
        *torchrun_command(2),
        osp.join(REPO, 'tools',
                 'extract_tracks.py'), KINETICS_CONFIG, '--launcher',
        'pytorch', '--cfg-options', *[f'{k}={v}' for k, v in opts.items()]
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd,
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f'extraction failed:\n{log[-3000:]}')
    lines = [
        x.strip() for x in log.splitlines()
        if x.strip().startswith(('rank 0:', 'rank 1:',
                                 'track cache')) and 'video/s' not in x
    ]
    return dict(wall_s=wall, summary=lines)


def measure_extraction(root: str,
                       index_file: str,
                       remaining: int,
                       header_sample: int = 2000) -> dict:
    """Extraction with the manifest on a collection whose videos are all
    done but the last ``remaining`` (done = a hard link to one real track
    file, listed in a previous run's manifest), then with none left; the
    bookkeeping of one resume measured step by step in this process; the
    header check per file a resume without the manifest needs."""
    from mmcv.transforms import Compose

    import mosic_mm  # noqa: F401
    from mosic_mm.registry import TRANSFORMS
    from mosic_mm.tracks.cache import (
        cache_path,
        default_cache_dir,
        read_header,
    )
    from mosic_mm.tracks.extraction import (
        extract_video,
        make_plan,
        read_manifest,
        read_manifests,
        settings_digest,
    )
    from mosic_mm.tracks.trackers import build_tracker
    from mosic_mm.utils.config import load_config
    opts = _extract_options(root, index_file)
    plan = make_plan(load_config(KINETICS_CONFIG, opts))
    t0 = time.perf_counter()
    ds = _build(plan['dataset'])
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    order = sorted(range(len(ds)), key=ds.video_id)
    sort_s = time.perf_counter() - t0
    cache_dir = default_cache_dir(ds.data_root, 'StaticTracker')
    mdir = osp.join(cache_dir, '.manifest', settings_digest(plan))
    done_ids = [ds.video_id(i) for i in order[:len(order) - remaining]]
    prev = osp.join(mdir, 'rank_previous.txt')
    for name in os.listdir(mdir) if osp.isdir(mdir) else ():
        if name != 'rank_previous.txt':  # undo an earlier benchmark's run
            for vid in read_manifest(osp.join(mdir, name)):
                os.remove(cache_path(cache_dir, vid))
            os.remove(osp.join(mdir, name))
    if not osp.isfile(prev):  # a previous run that finished these videos
        first = cache_path(cache_dir, done_ids[0])
        info = dict(ds.get_data_info(order[0]), data_root=ds.data_root)
        prefix = Compose([TRANSFORMS.build(dict(t)) for t in plan['prefix']])
        extract_video(info, plan, prefix, build_tracker(dict(plan['tracker'])),
                      first)
        size = os.stat(first).st_size
        template = osp.join(root, 'templates', 'tracks.npz')
        if not osp.exists(template):
            os.link(first, template)
        link = _Linker(template)
        os.makedirs(mdir, exist_ok=True)
        with open(prev + '.tmp', 'w') as f:
            for vid in done_ids:
                path = cache_path(cache_dir, vid)
                if not osp.exists(path):
                    os.makedirs(osp.dirname(path), exist_ok=True)
                    link(path)
                f.write(f'{vid} {size}\n')
        os.replace(prev + '.tmp', prev)
    os.sync()  # write the links back now, not in the first run's fsyncs
    t0 = time.perf_counter()
    finished = read_manifests(mdir)
    manifest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for vid in done_ids:
        os.stat(cache_path(cache_dir, vid))
    stat_s = time.perf_counter() - t0
    sample = done_ids[::max(1, len(done_ids) // header_sample)]
    t0 = time.perf_counter()
    for vid in sample:
        read_header(cache_path(cache_dir, vid))
    header_ms = (time.perf_counter() - t0) / len(sample) * 1e3
    first_run = _torchrun_extract(opts)
    second_run = _torchrun_extract(opts)
    return dict(videos=len(ds),
                remaining=remaining,
                manifest_entries=len(finished),
                build_s=build_s,
                sort_s=sort_s,
                manifest_read_s=manifest_s,
                stat_s=stat_s,
                header_ms=header_ms,
                first_run=first_run,
                second_run=second_run)


# ------------------------------------------------------------ the benchmark
def benchmark_collection(root: str,
                         num_videos: int = 650000,
                         num_classes: int = 700,
                         num_workers: int = 4,
                         remaining: int = 2000,
                         repeats: int = 3,
                         skip_extraction: bool = False) -> dict:
    """Everything of the module docstring; a dict of the numbers."""
    result = dict(collection=make_collection(root, num_videos, num_classes))
    index_file = osp.join(root, 'video_index.bin')
    cfg = dataset_cfg(root, index_file)
    cold = osp.join(root, 'COLD_START.json')  # measured when it was built
    if not osp.isfile(cold):  # (an index without its cold time: rebuilt)
        if osp.isfile(index_file):
            os.remove(index_file)
        os.sync()  # the collection's metadata written back first
        with open(cold, 'w') as f:
            json.dump(_child('start', cfg=cfg), f)
    with open(cold) as f:
        result['cold'] = json.load(f)
    result['warm'] = [_child('start', cfg=cfg) for _ in range(repeats)]
    result['index_mb'] = os.path.getsize(index_file) / 2**20
    result['memory'] = [
        _child('memory',
               cfg=cfg,
               mode=mode,
               index_file=index_file,
               num_workers=num_workers)
        for mode in ('index', 'serialized', 'list')
    ]
    if not skip_extraction:
        result['extraction'] = measure_extraction(root, index_file, remaining)
    return result


def format_markdown(r: dict) -> str:
    """The docs/benchmarks.md tables of a :func:`benchmark_collection`
    result."""
    n = r['collection']['params']['num_videos']
    warm = sorted(x['build_s'] for x in r['warm'])
    out = [
        f'Collection: {n:,} video files, '
        f'{r["collection"]["params"]["num_classes"]} class folders, '
        f'index file {r["index_mb"]:.1f} MB.', '',
        '| start of the dataset (fresh process) | seconds |', '|---|---|'
    ]
    if 'cold' in r:
        out.append(f'| cold: list the files, count frames with decord, '
                   f'write the index (every start without an index) | '
                   f'{r["cold"]["init_s"]:.1f} |')
    init = sorted(x['init_s'] for x in r['warm'])
    out.append(f'| warm: build the dataset from its config, index mapped '
               f'(median of {len(warm)}) | {warm[len(warm) // 2]:.2f} |')
    out.append(f'| of which mapping and checking the index | '
               f'{init[len(init) // 2]:.2f} |')
    out.append(f'| (importing mosic_mm before it) | '
               f'{r["warm"][0]["import_s"]:.1f} |')
    out += [
        '', '| data list | build s | rank USS MB | rank PSS MB | '
        'worker USS MB (max) | worker PSS MB (max) |',
        '|---|---|---|---|---|---|'
    ]
    names = dict(index='VideoIndex (index_file)',
                 serialized="mmengine's, pickled into one buffer (default)",
                 list='a Python list of dicts (serialize_data=False)')
    for m in r['memory']:
        w = m['workers']
        out.append(f'| {names[m["mode"]]} | {m["build_s"]:.1f} | '
                   f'{m["rank"]["uss"]:.0f} | {m["rank"]["pss"]:.0f} | '
                   f'{max(x["uss"] for x in w):.0f} | '
                   f'{max(x["pss"] for x in w):.0f} |')
    e = r.get('extraction')
    if e:
        out += [
            '', '| extraction with the manifest (2 ranks, gloo) | '
            'seconds |', '|---|---|',
            f'| extract the last {e["remaining"]:,} videos (StaticTracker)'
            f', {e["manifest_entries"]:,} listed as done | '
            f'{e["first_run"]["wall_s"]:.1f} |',
            f'| nothing left to do | {e["second_run"]["wall_s"]:.1f} |',
            f'| of which (one process): index {e["build_s"]:.2f}, sort '
            f'ids {e["sort_s"]:.2f}, read manifests '
            f'{e["manifest_read_s"]:.2f}, stat every file '
            f'{e["stat_s"]:.2f} | |',
            f'| without the manifest: a header read per file, '
            f'{e["header_ms"]:.2f} ms x {e["videos"]:,} | '
            f'{e["header_ms"] * e["videos"] / 1e3:.0f} |'
        ]
        out += ['', '```'] + e['first_run']['summary'] + \
            e['second_run']['summary'] + ['```']
    return '\n'.join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default='/tmp/collection650k')
    p.add_argument('--videos', type=int, default=650000)
    p.add_argument('--classes', type=int, default=700)
    p.add_argument('--workers',
                   type=int,
                   default=4,
                   help='DataLoader workers whose memory is measured')
    p.add_argument('--remaining',
                   type=int,
                   default=2000,
                   help='videos left to extract in the extraction run')
    p.add_argument('--repeats',
                   type=int,
                   default=3,
                   help='warm starts timed (the median is reported)')
    p.add_argument('--skip-extraction', action='store_true')
    p.add_argument('--markdown', help='append the tables to this file')
    p.add_argument('--out', help='write the numbers as JSON')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = benchmark_collection(args.root, args.videos, args.classes,
                                  args.workers, args.remaining, args.repeats,
                                  args.skip_extraction)
    text = format_markdown(result)
    print(machine_description())
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    if args.markdown:
        with open(args.markdown, 'a') as f:
            f.write(f'\n{machine_description()}\n\n{text}\n')


if __name__ == '__main__':
    main()
