"""Frozen-feature evaluations of MoSiC backbones (docs/evaluation.md).

    python tools/evaluate.py SUBCOMMAND MODEL [MODEL ...] [options]

SUBCOMMAND: propagate (DAVIS label propagation, J&F), overcluster (PCA-50 +
K-means, Hungarian / many-to-one mIoU), hummingbird (in-context retrieval
mIoU), linear (linear probe mIoU on frozen patch features), videoclust
(per-frame / per-clip clustering mIoU), all (the five) -- fast presets on
the synthetic data.

Named paper benchmarks (mosic_mm/evaluation/benchmarks.py, docs/evaluation.md):

    python tools/evaluate.py bench NAME MODEL [MODEL ...] [--preset paper|fast]
    python tools/evaluate.py all-paper MODEL [MODEL ...] [--out-dir DIR]

print ours beside the paper's DINOv2 / MoSiC numbers (ViT-S/14, ViT-B/14) and
write one Markdown + JSON table. Under torchrun (tools/dist_evaluate.sh) the
feature extraction is sharded over ranks; only rank 0 prints and writes.
MODEL: a training config (.py: its initialisation under its seed, i.e. the
untrained start) or a checkpoint (training checkpoint, whose config is read
from it, or an exported backbone with --config). Several MODELs are printed
side by side. Defaults evaluate the synthetic val split (data/synthetic).
"""
import argparse
import json
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from mosic_mm.evaluation import (evaluate_video, hummingbird_miou,  # noqa
                                 jf_summary, linear_probe_miou, overcluster,
                                 propagate_labels, video_clustering_miou)
from mosic_mm.evaluation.data import (load_image_list, load_video,  # noqa
                                      load_video_frames, resize_masks,
                                      video_list)
from mosic_mm.evaluation.features import (build_backbone,  # noqa: E402
                                          extract_features)

SUBCOMMANDS = ('propagate', 'overcluster', 'hummingbird', 'linear',
               'videoclust', 'all')


def _add_model_args(p: argparse.ArgumentParser) -> None:
    """How a MODEL is read: ``--config`` for exported backbones and
    ``--which`` weights of a training checkpoint."""
    p.add_argument('--config', help='training config for checkpoints '
                   'without one (exported backbones)')
    p.add_argument('--which', default='student',
                   choices=['student', 'teacher'])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('task', choices=SUBCOMMANDS)
    p.add_argument('models', nargs='+', metavar='MODEL',
                   help='training config (.py) or checkpoint (.pth)')
    _add_model_args(p)
    p.add_argument('--data-root', default='data/synthetic')
    p.add_argument('--split', default='val')
    p.add_argument('--train-split', default='train',
                   help='memory bank split (hummingbird)')
    p.add_argument('--input-size', type=int,
                   help='network input (square, multiple of the patch); '
                   'default: the backbone img_size')
    p.add_argument('--mask-size', type=int,
                   help='masks are resized to this (default: input size)')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--layout', default='video', choices=['video', 'image'],
                   help="image-level data: 'video' = frames of the split's "
                   "videos (synthetic), 'image' = VOC-style list file")
    p.add_argument('--class-ann-dir', default='ClassAnnotations',
                   help='semantic masks (video layout) / mask folder (image)')
    p.add_argument('--img-dir', default='JPEGImages',
                   help='image folder (image layout)')
    p.add_argument('--list', help='list file of the evaluated split, '
                   'relative to the data root (image layout)')
    p.add_argument('--train-list', help='list file of the memory split')
    p.add_argument('--num-classes', type=int,
                   help='default: len(classes) in <data-root>/meta.json')
    p.add_argument('--frame-step', type=int, default=4,
                   help='use every n-th frame for image-level evaluations')
    p.add_argument('--max-videos', type=int)
    # overclustering
    p.add_argument('--ks', type=int, nargs='+',
                   help='cluster counts (default: #classes, 4 x #classes)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    p.add_argument('--pca-dim', type=int, default=50)
    # hummingbird
    p.add_argument('--fractions', type=float, nargs='+', default=[1.0],
                   help='shares of training images in the memory bank')
    p.add_argument('--knn', type=int, default=30)
    p.add_argument('--memory-size', type=int)
    # linear probe
    p.add_argument('--probe-steps', type=int, default=300)
    p.add_argument('--probe-lr', type=float, default=0.05)
    # propagation
    p.add_argument('--ann-dir', default='Annotations',
                   help='instance masks (propagate, videoclust)')
    p.add_argument('--n-context', type=int, default=7)
    p.add_argument('--radius', type=int, default=12)
    p.add_argument('--topk', type=int, default=5)
    p.add_argument('--temperature', type=float, default=0.1)
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def _model_spec(model: str, args):
    if model.endswith('.py'):
        return dict(config=model, checkpoint=None)
    return dict(config=args.config, checkpoint=model)


def _num_classes(args) -> int:
    if args.num_classes:
        return args.num_classes
    meta = osp.join(args.data_root, 'meta.json')
    if osp.isfile(meta):
        with open(meta) as f:
            return len(json.load(f)['classes'])
    raise ValueError(f'{meta} not found: pass --num-classes')


def _image_set(args, split, list_file):
    if args.layout == 'video':
        return load_video_frames(args.data_root, split, args.class_ann_dir,
                                 args.frame_step, args.max_videos)
    if list_file is None:
        raise ValueError('--layout image needs --list (and --train-list for '
                         'hummingbird)')
    return load_image_list(args.data_root, list_file, args.img_dir,
                           args.class_ann_dir)


def run_propagate(vit, info, size, args):
    per_video = {}
    videos = video_list(args.data_root, args.split)[:args.max_videos]
    for v in tqdm(videos, desc='propagate', unit='video', leave=False):
        frames, masks = load_video(args.data_root, v, args.ann_dir)
        feats = extract_features(vit, frames, size, info['mean'],
                                 info['std'], args.batch_size)
        pred = propagate_labels(feats, masks[0], args.n_context, args.radius,
                                args.topk, args.temperature)
        per_video[v] = evaluate_video(masks, pred)
    s = jf_summary(per_video)
    return {'DAVIS J&F': s['J&F'], 'DAVIS J': s['J'], 'DAVIS F': s['F']}


def run_overcluster(vit, info, size, args, data):
    images, masks = data['val']
    n = _num_classes(args)
    feats = extract_features(vit, images, size, info['mean'], info['std'],
                             args.batch_size, progress=True)
    ks = args.ks or [n, 4 * n]
    res = overcluster(feats, resize_masks(masks, args.mask_size or size), n,
                      ks, args.seeds, args.pca_dim)
    return {f'overcluster K={k} mIoU': r['mIoU'] for k, r in res.items()}


def run_hummingbird(vit, info, size, args, data):
    n = _num_classes(args)
    (tr_img, tr_mask), (va_img, va_mask) = data['train'], data['val']
    kw = dict(mean=info['mean'], std=info['std'], batch_size=args.batch_size,
              progress=True)
    tr = extract_features(vit, tr_img, size, **kw)
    va = extract_features(vit, va_img, size, **kw)
    msize = args.mask_size or size
    out = {}
    for frac in args.fractions:
        out[f'hummingbird 1/{round(1 / frac)} mIoU'] = hummingbird_miou(
            tr, resize_masks(tr_mask, msize), va, resize_masks(va_mask, msize),
            n, k=args.knn, fraction=frac, memory_size=args.memory_size)
    return out


def run_linear(vit, info, size, args, data):
    (tr_img, tr_mask), (va_img, va_mask) = data['train'], data['val']
    kw = dict(mean=info['mean'], std=info['std'], batch_size=args.batch_size,
              progress=True)
    msize = args.mask_size or size
    miou = linear_probe_miou(
        extract_features(vit, tr_img, size, **kw),
        resize_masks(tr_mask, msize),
        extract_features(vit, va_img, size, **kw),
        resize_masks(va_mask, msize), _num_classes(args),
        steps=args.probe_steps, lr=args.probe_lr, seed=args.seeds[0])
    return {'linear probe mIoU': miou}


def run_videoclust(vit, info, size, args):
    scores = {'frame': [], 'clip': []}
    videos = video_list(args.data_root, args.split)[:args.max_videos]
    for v in tqdm(videos, desc='videoclust', unit='video', leave=False):
        frames, masks = load_video(args.data_root, v, args.ann_dir)
        feats = extract_features(vit, frames, size, info['mean'],
                                 info['std'], args.batch_size)
        m = resize_masks(masks, args.mask_size or size)
        for mode in scores:
            scores[mode].append(video_clustering_miou(
                feats, m, mode, seeds=args.seeds[:1]))
    return {f'videoclust per-{k} mIoU': float(np.mean(v))
            for k, v in scores.items()}


def print_table(columns, results):
    """results: {column: {metric: value}} -> aligned table (values x100)."""
    metrics = list(dict.fromkeys(m for r in results.values() for m in r))
    w0 = max(len('metric'), *(len(m) for m in metrics))
    widths = [max(8, len(c)) for c in columns]
    line = ' | '.join(['metric'.ljust(w0)] +
                      [c.rjust(w) for c, w in zip(columns, widths)])
    print(line)
    print('-' * len(line))
    for m in metrics:
        cells = [f'{100 * results[c][m]:.2f}' if m in results[c] else '-'
                 for c in columns]
        print(' | '.join([m.ljust(w0)] +
                         [s.rjust(w) for s, w in zip(cells, widths)]))


BENCH_COMMANDS = ('bench', 'all-paper')


def parse_bench_args(argv):
    from mosic_mm.evaluation.benchmarks import BENCHMARKS, PRESETS
    p = argparse.ArgumentParser(
        prog='evaluate.py bench|all-paper',
        description='named paper benchmarks (docs/evaluation.md)')
    p.add_argument('command', choices=BENCH_COMMANDS)
    p.add_argument('names_and_models', nargs='+', metavar='[NAME] MODEL',
                   help='bench: NAME then MODELs; all-paper: MODELs')
    p.add_argument('--benchmarks', nargs='+', choices=list(BENCHMARKS),
                   help='all-paper: run only these (default: all, in '
                   'registry order)')
    p.add_argument('--preset', default='paper', choices=PRESETS,
                   help="'paper' = the authors' settings; 'fast' = CPU "
                   'sizes for tests and the demo (the table says which)')
    p.add_argument('--data-root', action='append', default=[],
                   metavar='[DATASET=]PATH',
                   help='dataset root; DATASET = voc2012 | ade20k | '
                   'davis2017 | ytvos2019 or a benchmark name; a bare PATH '
                   'applies to every benchmark; repeatable')
    _add_model_args(p)
    p.add_argument('--device', default=None,
                   help="default: cuda (this rank's GPU) if available")
    p.add_argument('--out-dir', default='work_dirs/bench',
                   help='writes <table>.md and <table>.json here')
    p.add_argument('--work-dir', help='linear benchmarks: mmseg work dir '
                   '(default: a temporary one)')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    if args.command == 'bench':
        if len(args.names_and_models) < 2:
            p.error('bench needs NAME and at least one MODEL')
        name, *models = args.names_and_models
        if name not in BENCHMARKS:
            p.error(f'unknown benchmark {name!r}; choose from '
                    f'{", ".join(BENCHMARKS)}')
        args.names, args.models = [name], models
    else:
        args.names = args.benchmarks or list(BENCHMARKS)
        args.models = args.names_and_models
    return args


def data_roots(entries, names):
    """{benchmark name: root} from ``--data-root`` entries (later entries
    win; a benchmark name beats its dataset name beats a bare path)."""
    from mosic_mm.evaluation.benchmarks import BENCHMARKS
    bare, by_key = None, {}
    for e in entries:
        key, sep, path = e.partition('=')
        if not sep:
            bare = e
            continue
        known = {b.dataset for b in BENCHMARKS.values()} | set(BENCHMARKS)
        if key not in known:
            raise ValueError(f'--data-root {e}: {key!r} is neither a dataset '
                             f'nor a benchmark ({", ".join(sorted(known))})')
        by_key[key] = path
    out = {}
    for n in names:
        b = BENCHMARKS[n]
        out[n] = by_key.get(n) or by_key.get(b.dataset) or bare or \
            b.data_root
    return out


def _launcher():
    """'pytorch' when started by torchrun with several processes."""
    import os
    return 'pytorch' if int(os.environ.get('WORLD_SIZE', '1')) > 1 \
        else 'none'


def _fmt(v):
    return '-' if v is None else f'{v:.1f}'


def bench_table(results, columns, preset):
    """Markdown table: one row per (benchmark, metric); ours x100 per
    model, then the paper's DINOv2 / MoSiC numbers per backbone size."""
    archs = list(dict.fromkeys(
        results[n][c]['arch'] for n in results for c in columns
        if results[n][c]['arch']))
    head = ['benchmark', 'metric', *columns]
    for a in archs:
        head += [f'paper DINOv2 {a}', f'paper MoSiC {a}']
    lines = [f'Preset: **{preset}** '
             + ('(the paper protocols)' if preset == 'paper' else
                '(fast CPU preset, NOT the paper protocols: numbers are not '
                'comparable with the paper columns)'),
             '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for n, per_model in results.items():
        first = per_model[columns[0]]
        for m in first['metrics']:
            row = [n, m] + [f'{100 * per_model[c]["metrics"][m]:.2f}'
                            for c in columns]
            for a in archs:
                ref = next((per_model[c]['reference'].get(m) for c in columns
                            if per_model[c]['arch'] == a), None) or {}
                row += [_fmt(ref.get('DINOv2')), _fmt(ref.get('MoSiC'))]
            lines.append('| ' + ' | '.join(row) + ' |')
    lines += ['', 'Protocols:']
    for n, per_model in results.items():
        r = per_model[columns[0]]
        lines.append(f'- `{n}` on `{r["data_root"]}`: {r["protocol"]}; '
                     + '; '.join(r['notes']))
    if archs:
        src = next(iter(results.values()))[columns[0]]['reference_source']
        lines.append(f'\nPaper numbers: {src}.')
    return '\n'.join(lines) + '\n'


def bench_main(argv):
    from mosic_mm.utils.dist import distributed_session
    args = parse_bench_args(argv)
    with distributed_session(_launcher()):   # gloo without CUDA
        return _bench(args)


def _bench(args):
    import os

    import torch
    from mmengine import dist
    from tqdm import tqdm

    from mosic_mm.evaluation.benchmarks import run_benchmark
    rank, ws = dist.get_rank(), dist.get_world_size()
    roots = data_roots(args.data_root, args.names)
    dev = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if dev == 'cuda' and ws > 1:
        dev = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    progress = not args.no_progress and rank == 0
    results = {n: {} for n in args.names}
    columns = []
    for model in args.models:
        vit, info = build_backbone(**_model_spec(model, args),
                                   which=args.which)
        vit.to(dev)
        col = info['source']
        while col in columns:
            col += "'"
        columns.append(col)
        bar = tqdm(args.names, desc=f'{col}', unit='benchmark',
                   disable=not progress)
        for n in bar:
            bar.set_postfix_str(n)
            start = time.time()
            wd = osp.join(args.work_dir, n, f'model{len(columns) - 1}') \
                if args.work_dir else None
            r = run_benchmark(n, vit, info, roots[n], args.preset,
                              progress=progress, work_dir=wd)
            r['seconds'] = time.time() - start
            r['model'] = model
            results[n][col] = r
        del vit
    if rank != 0:
        return results
    table = bench_table(results, columns, args.preset)
    name = args.names[0] if args.command == 'bench' else 'all-paper'
    stem = f'{name}_{args.preset}'
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, stem + '.md'), 'w') as f:
        f.write(table)
    with open(osp.join(args.out_dir, stem + '.json'), 'w') as f:
        json.dump(dict(preset=args.preset, columns=columns, world_size=ws,
                       results=results), f, indent=1, default=str)
    print()
    print(table)
    print(f'wrote {osp.join(args.out_dir, stem)}.md / .json',
          file=sys.stderr)
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in BENCH_COMMANDS:
        return bench_main(argv)
    args = parse_args(argv)
    tasks = SUBCOMMANDS[:-1] if args.task == 'all' else (args.task, )
    data = {}
    if {'overcluster', 'hummingbird', 'linear'} & set(tasks):
        data['val'] = _image_set(args, args.split, args.list)
    if {'hummingbird', 'linear'} & set(tasks):
        data['train'] = _image_set(args, args.train_split, args.train_list)
    results, columns = {}, []
    for model in args.models:
        start = time.time()
        vit, info = build_backbone(**_model_spec(model, args),
                                   which=args.which)
        size = args.input_size or info['img_size']
        col = info['source']
        res = {}
        for task in tasks:
            if task == 'propagate':
                res.update(run_propagate(vit, info, size, args))
            elif task == 'overcluster':
                res.update(run_overcluster(vit, info, size, args, data))
            elif task == 'hummingbird':
                res.update(run_hummingbird(vit, info, size, args, data))
            elif task == 'linear':
                res.update(run_linear(vit, info, size, args, data))
            else:
                res.update(run_videoclust(vit, info, size, args))
        while col in results:
            col += "'"
        columns.append(col)
        results[col] = res
        print(f'{col}: evaluated at {size} px in {time.time() - start:.0f} s',
              file=sys.stderr)
    print()
    print(f'{args.task} on {args.data_root} ({args.split}); scores x100')
    print_table(columns, results)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
