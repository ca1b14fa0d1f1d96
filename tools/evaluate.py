"""Frozen-feature evaluations of MoSiC backbones (DESIGN.md §6).

    python tools/evaluate.py SUBCOMMAND MODEL [MODEL ...] [options]

SUBCOMMAND: propagate (DAVIS label propagation, J&F), overcluster (PCA-50 +
K-means, Hungarian / many-to-one mIoU), hummingbird (in-context retrieval
mIoU), linear (linear probe mIoU on frozen patch features), videoclust
(per-frame / per-clip clustering mIoU), all (the five).
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('task', choices=SUBCOMMANDS)
    p.add_argument('models', nargs='+', metavar='MODEL',
                   help='training config (.py) or checkpoint (.pth)')
    p.add_argument('--config', help='training config for checkpoints '
                   'without one (exported backbones)')
    p.add_argument('--which', default='student',
                   choices=['student', 'teacher'])
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


def main(argv=None):
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
