"""MoSiC's claim in miniature, on a CPU (docs/mini_reproduction.md).

    python tools/reproduce_mini.py [--seeds 0 1 2] [--iters N] [--out DIR]

1. an image-pretrained start: mmpretrain's MoCoV3 (configs/mini/imgssl_pretrain.py)
   on the synthetic train frames as independent images, made on first use and
   cached (a second run reuses it; a changed config makes a new one);
2. per seed, with the same number of steps: (b) MoCoV3 continued
   (imgssl_continue.py), (a) MoSiC on static tracks (mosic_static.py),
   MoSiC on DIS tracks (mosic_from_imgssl.py) and MoSiC on exact tracks
   (mosic_gt_tracks.py: the synthetic ground truth, standing in for the
   paper's CoTracker3);
3. every metric of tools/evaluate.py on the synthetic val split for the start
   and each run, J&F and video clustering also at --temporal-size px (224);
   one table: mean +- std over the seeds.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

PRETRAIN_CFG = 'configs/mini/imgssl_pretrain.py'
CONTROL_B_CFG = 'configs/mini/imgssl_continue.py'
STATIC_CFG = 'configs/mini/mosic_static.py'
MOSIC_CFG = 'configs/mini/mosic_from_imgssl.py'
GT_CFG = 'configs/mini/mosic_gt_tracks.py'
RANDOM_CFG = 'configs/mosic_vits_synthetic.py'  # its init: a random ViT
ARMS = (('+image SSL (b)', CONTROL_B_CFG), ('+MoSiC static (a)', STATIC_CFG),
        ('+MoSiC DIS tracks', MOSIC_CFG), ('+MoSiC exact tracks', GT_CFG))
ARM_KEYS = (('imgssl', ARMS[0]), ('static', ARMS[1]), ('mosic', ARMS[2]),
            ('gt', ARMS[3]))


def write_frame_list(data_root: str, split: str = 'train',
                     out: str = 'ImageSets/train_frames.txt') -> str:
    """One line per frame (``<video>/<frame>.jpg``, relative to JPEGImages/)
    of the videos in ``ImageSets/<split>.txt``; rewritten only when it
    changes. Returns the list's path."""
    videos_file = osp.join(data_root, 'ImageSets', f'{split}.txt')
    if not osp.isfile(videos_file):
        raise FileNotFoundError(f'{videos_file} not found: generate the '
                                'synthetic data first')
    with open(videos_file) as f:
        videos = [v.strip() for v in f if v.strip()]
    lines = []
    for v in videos:
        d = osp.join(data_root, 'JPEGImages', v)
        frames = sorted(x for x in os.listdir(d) if x.endswith('.jpg'))
        if not frames:
            raise ValueError(f'{d}: no .jpg frames')
        lines += [f'{v}/{x}' for x in frames]
    text = '\n'.join(lines) + '\n'
    path = osp.join(data_root, out)
    if not osp.isfile(path) or open(path).read() != text:
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    return path


def ensure_data(data_root: str, config: str = MOSIC_CFG) -> None:
    """Write the synthetic videos of ``config``'s dataset into ``data_root``
    (nothing is written when they are there already) and the train frame
    list of the image-SSL configs. A dataset there that
    this generator wrote with other parameters (e.g. the earlier 8-video val
    split) is regenerated. The data is deterministic: each video's seed
    comes from its split and index, so a new val split leaves the train
    videos, and with them the cached start and tracks, as they were."""
    from mmengine.config import Config

    from mosic_mm.synthetic import write_dataset
    ds = Config.fromfile(config).train_dataloader.dataset
    kw = dict(num_train=ds.num_train, num_val=ds.num_val,
              num_frames=ds.num_frames, size=tuple(ds.size),
              seed=ds.get('seed', 0), style=ds.get('style', 'default'))
    had = osp.isfile(osp.join(data_root, 'meta.json'))
    # overwrite=True still refuses a root this generator did not write
    if write_dataset(data_root, overwrite=True, **kw)['created'] and had:
        print(f'{data_root}: regenerated with the parameters of {config}',
              flush=True)
    write_frame_list(data_root)  # the image-SSL arms' list, in ImageSets/


def data_root_of(config: str = MOSIC_CFG) -> str:
    """The synthetic data root ``config`` trains on."""
    from mmengine.config import Config
    return Config.fromfile(config).train_dataloader.dataset.data_root


def config_digest(config: str) -> str:
    """sha256 of the resolved config text (what the cached start depends
    on)."""
    from mmengine.config import Config
    return hashlib.sha256(
        Config.fromfile(config).pretty_text.encode()).hexdigest()[:16]


def thread_env(jobs: int, cores: int = None) -> dict:
    """Environment for one of ``jobs`` processes run side by side: the
    cores split between them (OMP/MKL threads >= 1). Without it every
    process starts one torch thread per core and the oversubscribed
    OpenMP threads spin against each other (measured on 2 cores, 2 jobs:
    a MoSiC step 1.5 s instead of 0.09 s alone)."""
    cores = cores or os.cpu_count() or 1
    n = str(max(1, cores // max(1, jobs)))
    return dict(os.environ, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)


def _run(cmd, log, env=None):
    print('+', ' '.join(cmd), f'(log: {log})', flush=True)
    with open(log, 'w') as f:
        r = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                           env=env)
    if r.returncode:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'{" ".join(cmd)} failed ({r.returncode}); end '
                           f'of {log}:\n{tail}')


def split_models(models: list, n: int) -> list:
    """``models`` dealt round-robin into ``n`` (at most len(models))
    non-empty chunks, one evaluation call each."""
    n = max(1, min(n, len(models)))
    return [models[i::n] for i in range(n)]


def merge_columns(per_chunk: list) -> list:
    """Inverse of :func:`split_models`: the chunks' result columns back in
    the order of the models."""
    n = len(per_chunk)
    out = [None] * sum(len(c) for c in per_chunk)
    for i, cols in enumerate(per_chunk):
        out[i::n] = cols
    return out


def _run_all(jobs, n: int = 1) -> None:
    """Run ``(cmd, log)`` jobs, ``n`` at a time; the first failure is
    raised once all have ended."""
    if n <= 1:
        for cmd, log in jobs:
            _run(cmd, log)
        return
    from concurrent.futures import ThreadPoolExecutor
    env = thread_env(n)
    with ThreadPoolExecutor(n) as pool:
        for f in [pool.submit(_run, cmd, log, env) for cmd, log in jobs]:
            f.result()


def ensure_start(start: str, config: str = PRETRAIN_CFG,
                 work_dir: str = 'work_dirs/mini/imgssl_pretrain',
                 python: str = sys.executable, cfg_options=()) -> bool:
    """Make the image-SSL start ``start`` unless a cached one made with the
    same resolved config exists (``start + '.json'`` records the digest).
    Returns True if it was (re)made, False if the cache was reused."""
    digest = config_digest(config) + ''.join(f' {o}' for o in cfg_options)
    meta = start + '.json'
    if osp.isfile(start) and osp.isfile(meta):
        with open(meta) as f:
            if json.load(f).get('config_digest') == digest:
                print(f'image-SSL start: reusing {start} ({config}, '
                      f'digest {digest})', flush=True)
                return False
        print(f'image-SSL start: {start} was made with another config; '
              'remaking it', flush=True)
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(dict(o.split('=', 1) for o in cfg_options))
    data_root = cfg.train_dataloader.dataset.data_root
    if data_root == data_root_of(MOSIC_CFG):
        ensure_data(data_root)  # the mini configs' videos
    else:  # another root (--cfg-options): its videos must be there
        write_frame_list(data_root)
    os.makedirs(work_dir, exist_ok=True)
    t0 = time.time()
    _run([python, 'tools/train.py', config, '--work-dir', work_dir,
          *(['--cfg-options', *cfg_options] if cfg_options else [])],
         osp.join(work_dir, 'train.log.txt'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    os.makedirs(osp.dirname(start) or '.', exist_ok=True)
    shutil.copyfile(last, start + '.tmp')
    os.replace(start + '.tmp', start)
    with open(meta, 'w') as f:
        json.dump(dict(config=config, config_digest=digest, source=last,
                       seconds=round(time.time() - t0, 1),
                       cfg_options=list(cfg_options), data_root=data_root),
                  f, indent=1)
    print(f'image-SSL start: made {start} in {time.time() - t0:.0f} s',
          flush=True)
    return True


def mean_colour_baseline(data_root: str, patch: int = 8) -> dict:
    """How far appearance alone gets: a nearest-class-mean-colour classifier
    on ``patch`` x ``patch`` pixel patches (label = the patch's majority
    class; centroids = mean RGB of the train patches of each class; every
    val patch goes to the nearest centroid). Returns ``acc``, ``miou``
    (over the classes present in val) and ``centroids`` [C, 3] (RGB)."""
    import numpy as np
    from PIL import Image

    def patches(split):
        with open(osp.join(data_root, 'ImageSets', f'{split}.txt')) as f:
            videos = f.read().split()
        cols, labs = [], []
        for v in videos:
            d = osp.join(data_root, 'JPEGImages', v)
            for name in sorted(os.listdir(d)):
                img = np.asarray(Image.open(osp.join(d, name)).convert('RGB'),
                                 np.float64)
                cls = np.asarray(Image.open(osp.join(
                    data_root, 'ClassAnnotations', v, name[:-4] + '.png')))
                h, w = (cls.shape[0] // patch) * patch, (cls.shape[1] // patch) * patch
                c = img[:h, :w].reshape(h // patch, patch, w // patch, patch, 3)
                cols.append(c.mean((1, 3)).reshape(-1, 3))
                m = cls[:h, :w].reshape(h // patch, patch, w // patch, patch)
                m = m.transpose(0, 2, 1, 3).reshape(-1, patch * patch)
                labs.append(np.array([np.bincount(r).argmax() for r in m]))
        return np.concatenate(cols), np.concatenate(labs)

    xt, yt = patches('train')
    xv, yv = patches('val')
    n = int(max(yt.max(), yv.max())) + 1
    cent = np.stack([xt[yt == c].mean(0) if (yt == c).any() else
                     np.full(3, np.inf) for c in range(n)])
    pred = np.argmin(((xv[:, None] - cent[None]) ** 2).sum(-1), 1)
    ious = [((pred == c) & (yv == c)).sum() / ((pred == c) | (yv == c)).sum()
            for c in range(n) if (yv == c).any()]
    return dict(acc=float((pred == yv).mean()), miou=float(np.mean(ious)),
                centroids=cent)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--iters', type=int, help='steps of every arm '
                   '(default: mini_iters of the configs)')
    p.add_argument('--out', default='work_dirs/mini')
    p.add_argument('--start', default='work_dirs/mini/imgssl_start.pth')
    p.add_argument('--python', default=sys.executable)
    p.add_argument('--jobs', type=int, default=2,
                   help='trainings / evaluations run side by side (separate '
                   'processes; the table keeps the model order)')
    p.add_argument('--arms', nargs='+', choices=[k for k, _ in ARM_KEYS],
                   default=[k for k, _ in ARM_KEYS],
                   help='which arms to train (default: all four)')
    p.add_argument('--temporal-size', type=int, default=224,
                   help='also evaluate J&F and video clustering at this '
                   'input size (0: not)')
    p.add_argument('--eval-args', nargs=argparse.REMAINDER, default=[],
                   help='passed to every tools/evaluate.py call (last '
                   'option)')
    return p.parse_args(argv)


def _arm_options(cfg_path, seed, iters, start):
    from mmengine.config import Config
    cfg = Config.fromfile(cfg_path)
    n = iters or cfg.mini_iters
    opts = [f'randomness.seed={seed}', f'train_cfg.max_iters={n}',
            f'param_scheduler.0.T_max={n}',
            f'default_hooks.checkpoint.interval={n}']
    if cfg_path == CONTROL_B_CFG:
        opts.append(f'load_from={start}')
    else:
        opts.append(f'model.backbone.init_cfg.checkpoint={start}')
    return opts, n


def start_model_config(start: str, out: str) -> str:
    """Write ``<out>/start_model.py``: MOSIC_CFG initialised from
    ``start``, the start column's model (MOSIC_CFG alone would evaluate its
    own ``start_checkpoint``, not a ``--start`` given elsewhere)."""
    path = osp.join(out, 'start_model.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{osp.join(REPO, MOSIC_CFG)!r}]\n'
                f'start_checkpoint = {osp.abspath(start)!r}\n'
                'model = dict(backbone=dict(init_cfg=dict('
                'checkpoint=start_checkpoint)))\n')
    return path


def _evaluate(task: str, models: list, data_root: str, args,
              extra=()) -> list:
    """``tools/evaluate.py TASK`` on ``models`` in ``args.jobs`` side-by-
    side chunks -> one {metric: value} per model, in the models' order."""
    tag = task + (f'_{extra[-1]}px' if extra else '')
    evals = []
    for i, chunk in enumerate(split_models(models, args.jobs)):
        js = osp.join(args.out,
                      f'eval_{tag}{f"-{i}" if args.jobs > 1 else ""}.json')
        evals.append(([args.python, 'tools/evaluate.py', task, *chunk,
                       '--data-root', data_root, *extra, '--json', js,
                       *args.eval_args], js[:-5] + '.log.txt'))
    _run_all(evals, args.jobs)
    per_chunk = []
    for _, log in evals:
        with open(log[:-8] + '.json') as f:
            per_chunk.append(list(json.load(f).values()))
    return merge_columns(per_chunk)


def summarise(results: dict, seeds) -> dict:
    """{column: [per-seed {metric: value}]} -> {column: {metric: (mean,
    std, n)}} (population std over the seeds, x100 later)."""
    import numpy as np
    out = {}
    for col, runs in results.items():
        metrics = list(dict.fromkeys(m for r in runs for m in r))
        out[col] = {m: (float(np.mean([r[m] for r in runs])),
                        float(np.std([r[m] for r in runs])), len(runs))
                    for m in metrics}
    return out


def format_table(summary: dict, header: str) -> str:
    cols = list(summary)
    metrics = list(dict.fromkeys(m for c in cols for m in summary[c]))
    w0 = max(len('metric'), *(len(m) for m in metrics))
    w = [max(15, len(c)) for c in cols]
    lines = [header, ' | '.join(['metric'.ljust(w0)] +
                                [c.rjust(x) for c, x in zip(cols, w)])]
    lines.append('-' * len(lines[-1]))
    for m in metrics:
        cells = []
        for c in cols:
            if m not in summary[c]:
                cells.append('-')
                continue
            mean, std, n = summary[c][m]
            cells.append(f'{100 * mean:.2f}' if n == 1 else
                         f'{100 * mean:.2f} +- {100 * std:.2f}')
        lines.append(' | '.join([m.ljust(w0)] +
                                [s.rjust(x) for s, x in zip(cells, w)]))
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    py = args.python
    ensure_start(args.start, python=py)
    data_root = data_root_of(MOSIC_CFG)
    ensure_data(data_root)  # also when the start was cached
    base = mean_colour_baseline(data_root)
    print(f'appearance baseline on {data_root}: nearest class-mean colour '
          f'of 8x8 patches: {100 * base["acc"]:.1f}% patch accuracy, '
          f'{100 * base["miou"]:.1f} mIoU', flush=True)
    arms = [arm for k, arm in ARM_KEYS if k in args.arms]
    # the tracks of the MoSiC arms that run, cached once
    for _, cfg in arms:
        if cfg != CONTROL_B_CFG:
            _run([py, 'tools/extract_tracks.py', cfg],
                 osp.join(args.out,
                          f'extract_{osp.basename(cfg)[:-3]}.log.txt'))
    jobs, n_iters = [], None
    for seed in args.seeds:
        for name, cfg in arms:
            opts, n_iters = _arm_options(cfg, seed, args.iters, args.start)
            wd = osp.join(args.out, f'{osp.basename(cfg)[:-3]}_seed{seed}')
            jobs.append((name, wd, [py, 'tools/train.py', cfg, '--work-dir',
                                    wd, '--cfg-options', *opts]))
    _run_all([(cmd, wd + '.log.txt') for _, wd, cmd in jobs], args.jobs)
    ckpts = {name: [] for name, _ in arms}
    for name, wd, _ in jobs:
        with open(osp.join(wd, 'last_checkpoint')) as f:
            ckpts[name].append(f.read().strip())
    # one evaluation call: a random-init ViT (reference: what appearance
    # gets without learning), the start (MOSIC_CFG initialised from
    # args.start) and every checkpoint, side by side
    models = [RANDOM_CFG, start_model_config(args.start, args.out)] + [
        c for name, _ in arms for c in ckpts[name]]
    cols = _evaluate('all', models, data_root, args)
    # J&F and video clustering again at a larger input: at 112 px (8x8
    # tokens) propagation is near its floor with 8-11 instances per clip
    if args.temporal_size:
        for task in ('propagate', 'videoclust'):
            extra = _evaluate(task, models, data_root, args,
                              ['--input-size', str(args.temporal_size)])
            for col, more in zip(cols, extra):
                col.update({f'{k} @{args.temporal_size}px': v
                            for k, v in more.items()})
    results = {'random init': [cols[0]], 'start (MoCoV3)': [cols[1]]}
    i = 2
    for name, _ in arms:
        results[name] = cols[i:i + len(args.seeds)]
        i += len(args.seeds)
    summary = summarise(results, args.seeds)
    header = (f'Mini reproduction on the synthetic val split of {data_root}: '
              f'fast CPU presets of tools/evaluate.py (not the paper '
              f'protocols), '
              f'scores x100, mean +- std over {len(args.seeds)} training '
              f'seeds {args.seeds} of {n_iters} steps per arm (start: one '
              f'MoCoV3 checkpoint; random init: seed 0); appearance '
              f'baseline (nearest class-mean colour, 8x8 patches): '
              f'{100 * base["miou"]:.1f} mIoU; {time.time() - t0:.0f} s in all')
    table = format_table(summary, header)
    print()
    print(table)
    with open(osp.join(args.out, 'table.txt'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, iters=n_iters, runs=results,
                       checkpoints=ckpts, data_root=data_root,
                       mean_colour_baseline=dict(acc=base['acc'],
                                                 miou=base['miou'])),
                  f, indent=1)
    return summary


if __name__ == '__main__':
    main()
