"""The mini reproduction's set-up and runs (docs/mini_reproduction.md):
the synthetic data, the image-SSL start (cached, digest-checked, its backbone
committed as assets/mini/imgssl_start.pth), side-by-side subprocess jobs and
their evaluation through tools/evaluate.py. ``tools/lab/reproduce_mini.py`` parses
its arguments and calls :mod:`tools.lab.mini.demo`."""
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

from tools.lab import REPO

PRETRAIN_CFG = 'configs/mini/imgssl_pretrain.py'
CONTROL_B_CFG = 'configs/mini/imgssl_continue.py'
STATIC_CFG = 'configs/mini/mosic_static.py'
MOSIC_CFG = 'configs/mini/mosic_from_imgssl.py'
GT_CFG = 'configs/mini/mosic_gt_tracks.py'
RANDOM_CFG = 'configs/mosic_vits_synthetic.py'  # its init: a random ViT
DEMO_CFG = 'configs/mini/mosic_demo.py'  # `make demo`: the exact-track arm
# committed: the start's backbone (+ '.json': the config digest it was made
# under) and the demo's 3-seed reference at DEMO_CFG's settings
START_ASSET = 'assets/mini/imgssl_start.pth'
DEMO_REFERENCE = 'assets/mini/demo_reference.json'
ARMS = (('+image SSL (b)', CONTROL_B_CFG), ('+MoSiC static (a)', STATIC_CFG),
        ('+MoSiC DIS tracks', MOSIC_CFG), ('+MoSiC exact tracks', GT_CFG))
ARM_KEYS = (('imgssl', ARMS[0]), ('static', ARMS[1]), ('mosic', ARMS[2]),
            ('gt', ARMS[3]))


def write_frame_list(data_root: str,
                     split: str = 'train',
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
    kw = dict(num_train=ds.num_train,
              num_val=ds.num_val,
              num_frames=ds.num_frames,
              size=tuple(ds.size),
              seed=ds.get('seed', 0),
              style=ds.get('style', 'default'))
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


# Settings of a resolved config that cannot change the weights a training
# makes: logging, timing, checkpoint intervals, visualisation, and
# auto_scale_lr (used only with tools/train.py --auto-scale-lr, which no
# run here passes). config_digest leaves them out, so editing them (e.g. in
# configs/mosic_vits_synthetic.py, which every mini config inherits) keeps
# the committed start and the demo's reference valid.
INERT_SETTINGS = ('auto_scale_lr', 'log_processor', 'log_level', 'visualizer',
                  'vis_backends', 'default_hooks.timer',
                  'default_hooks.logger', 'default_hooks.checkpoint')


def config_digest(config: str) -> str:
    """sha256 of the resolved config text less INERT_SETTINGS (what a
    cached start or a measured reference depends on); relative paths only,
    so the same on every machine."""
    from mmengine.config import Config
    cfg = Config.fromfile(config).to_dict()
    for key in INERT_SETTINGS:
        *parents, name = key.split('.')
        node = cfg
        for p in parents:
            node = node.get(p, {})
        node.pop(name, None)
    return hashlib.sha256(Config(cfg).pretty_text.encode()).hexdigest()[:16]


def recorded_digest(path: str):
    """The config digest recorded in ``path + '.json'`` when ``path`` was
    made (None when either file is missing)."""
    meta = path + '.json'
    if not (osp.isfile(path) and osp.isfile(meta)):
        return None
    with open(meta) as f:
        return json.load(f).get('config_digest')


def export_backbone(start: str, out: str) -> None:
    """Write the ``backbone.*`` weights (mmpretrain layout) of the MoCoV3
    checkpoint ``start`` to ``out`` as ``{'state_dict': ...}``, what
    ``ConvertedPretrained(layout='mmpretrain', prefix='backbone.')`` loads,
    and ``start``'s record (config digest) to ``out + '.json'``."""
    import torch

    from mosic_mm.models.backbones.weight_init import read_checkpoint
    state = read_checkpoint(start)['state_dict']
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    if not backbone:
        raise ValueError(f'{start}: no backbone.* weights in its state_dict')
    with open(start + '.json') as f:
        record = dict(json.load(f), backbone_of=start)
    os.makedirs(osp.dirname(out) or '.', exist_ok=True)
    torch.save(dict(state_dict=backbone), out + '.tmp')
    os.replace(out + '.tmp', out)
    with open(out + '.json', 'w') as f:
        json.dump(record, f, indent=1)
        f.write('\n')


def refresh_start_asset(start: str, asset: str = START_ASSET) -> bool:
    """Rewrite the committed start ``asset`` from ``start`` when it is
    missing or was made under another config than ``start``; True if
    rewritten (then commit it with its .json)."""
    digest = recorded_digest(start)
    if digest is None:
        raise FileNotFoundError(f'{start} or {start}.json not found: make '
                                'the start first (ensure_start)')
    if recorded_digest(asset) == digest:
        return False
    export_backbone(start, asset)
    print(
        f'image-SSL start: wrote its backbone to {asset} (+ .json, digest '
        f'{digest}); commit both',
        flush=True)
    return True


def check_start_asset(asset: str = START_ASSET,
                      config: str = PRETRAIN_CFG) -> str:
    """The committed start's digest, after checking that ``asset`` was made
    under the current ``config``; otherwise an error that says how to remake
    it."""
    recorded, digest = recorded_digest(asset), config_digest(config)
    if recorded is None:
        raise FileNotFoundError(f'{asset} or {asset}.json not found: '
                                '`make reproduce-mini` makes them')
    if recorded != digest:
        raise ValueError(f'{asset} was made under another {config} (digest '
                         f'{recorded}; the config now resolves to {digest}): '
                         'run `make reproduce-mini` to remake it, then commit '
                         f'{asset} and {asset}.json')
    return digest


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
        r = subprocess.run(cmd,
                           cwd=REPO,
                           stdout=f,
                           stderr=subprocess.STDOUT,
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


def _run_all(jobs, n: int = 1, share: int = None) -> None:
    """Run ``(cmd, log)`` jobs, ``n`` at a time, each with its share of the
    cores when ``share`` (default ``n``) processes run at once; the first
    failure is raised once all have ended."""
    share = share or n
    env = thread_env(share) if share > 1 else None
    if n <= 1:
        for cmd, log in jobs:
            _run(cmd, log, env)
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(n) as pool:
        for f in [pool.submit(_run, cmd, log, env) for cmd, log in jobs]:
            f.result()


def ensure_start(start: str,
                 config: str = PRETRAIN_CFG,
                 work_dir: str = 'work_dirs/mini/imgssl_pretrain',
                 python: str = sys.executable,
                 cfg_options=()) -> bool:
    """Make the image-SSL start ``start`` unless a cached one made with the
    same resolved config exists (``start + '.json'`` records the digest).
    Returns True if it was (re)made, False if the cache was reused."""
    digest = config_digest(config) + ''.join(f' {o}' for o in cfg_options)
    meta = start + '.json'
    recorded = recorded_digest(start)
    if recorded == digest:
        print(
            f'image-SSL start: reusing {start} ({config}, '
            f'digest {digest})',
            flush=True)
        return False
    if recorded is not None:
        print(
            f'image-SSL start: {start} was made with another config; '
            'remaking it',
            flush=True)
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
    _run([
        python, 'tools/train.py', config, '--work-dir', work_dir,
        *(['--cfg-options', *cfg_options] if cfg_options else [])
    ], osp.join(work_dir, 'train.log.txt'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    os.makedirs(osp.dirname(start) or '.', exist_ok=True)
    shutil.copyfile(last, start + '.tmp')
    os.replace(start + '.tmp', start)
    with open(meta, 'w') as f:
        json.dump(dict(config=config,
                       config_digest=digest,
                       source=osp.relpath(last, REPO),
                       seconds=round(time.time() - t0, 1),
                       cfg_options=list(cfg_options),
                       data_root=data_root),
                  f,
                  indent=1)
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
                img = np.asarray(
                    Image.open(osp.join(d, name)).convert('RGB'), np.float64)
                cls = np.asarray(
                    Image.open(
                        osp.join(data_root, 'ClassAnnotations', v,
                                 name[:-4] + '.png')))
                h, w = (cls.shape[0] // patch) * patch, (cls.shape[1]
                                                         // patch) * patch
                c = img[:h, :w].reshape(h // patch, patch, w // patch, patch,
                                        3)
                cols.append(c.mean((1, 3)).reshape(-1, 3))
                m = cls[:h, :w].reshape(h // patch, patch, w // patch, patch)
                m = m.transpose(0, 2, 1, 3).reshape(-1, patch * patch)
                labs.append(np.array([np.bincount(r).argmax() for r in m]))
        return np.concatenate(cols), np.concatenate(labs)

    xt, yt = patches('train')
    xv, yv = patches('val')
    n = int(max(yt.max(), yv.max())) + 1
    cent = np.stack([
        xt[yt == c].mean(0) if (yt == c).any() else np.full(3, np.inf)
        for c in range(n)
    ])
    pred = np.argmin(((xv[:, None] - cent[None])**2).sum(-1), 1)
    ious = [((pred == c) & (yv == c)).sum() / ((pred == c) | (yv == c)).sum()
            for c in range(n) if (yv == c).any()]
    return dict(acc=float((pred == yv).mean()),
                miou=float(np.mean(ious)),
                centroids=cent)


def _arm_options(cfg_path, seed, iters, start):
    from mmengine.config import Config
    cfg = Config.fromfile(cfg_path)
    n = iters or cfg.mini_iters
    opts = [
        f'randomness.seed={seed}', f'train_cfg.max_iters={n}',
        f'param_scheduler.0.T_max={n}',
        f'default_hooks.checkpoint.interval={n}'
    ]
    if cfg_path == CONTROL_B_CFG:
        opts.append(f'load_from={start}')
    else:
        opts.append(f'model.backbone.init_cfg.checkpoint={start}')
    return opts, n


def start_model_config(start: str, out: str, config: str = MOSIC_CFG) -> str:
    """Write ``<out>/start_model.py``: ``config`` initialised from
    ``start``, the start column's model (``config`` alone would evaluate its
    own ``start_checkpoint``, not a ``--start`` given elsewhere)."""
    path = osp.join(out, 'start_model.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{osp.join(REPO, config)!r}]\n'
                f'start_checkpoint = {osp.abspath(start)!r}\n'
                'model = dict(backbone=dict(init_cfg=dict('
                'checkpoint=start_checkpoint)))\n')
    return path


def _evaluate(task: str,
              models: list,
              data_root: str,
              args,
              extra=(),
              label: str = '',
              share: int = None) -> list:
    """``tools/evaluate.py TASK`` on ``models`` in up to ``args.jobs``
    side-by-side chunks (``share``: processes on the cores meanwhile,
    default the chunks) -> one {metric: value} per model, in the models'
    order. Writes ``<args.out>/eval_<task>[_<size>px][_<label>][-<chunk>]
    .json``."""
    tag = task + (f'_{extra[-1]}px' if extra else '') + (f'_{label}'
                                                         if label else '')
    evals = []
    for i, chunk in enumerate(split_models(models, args.jobs)):
        js = osp.join(args.out,
                      f'eval_{tag}{f"-{i}" if args.jobs > 1 else ""}.json')
        evals.append(([
            args.python, 'tools/evaluate.py', task, *chunk, '--data-root',
            data_root, *extra, '--json', js, *args.eval_args
        ], js[:-5] + '.log.txt'))
    _run_all(evals, len(evals), share)
    per_chunk = []
    for _, log in evals:
        with open(log[:-8] + '.json') as f:
            per_chunk.append(list(json.load(f).values()))
    return merge_columns(per_chunk)
