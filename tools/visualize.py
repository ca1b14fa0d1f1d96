"""Draw what a MoSiC checkpoint sees in a video.

    python tools/visualize.py --config C --checkpoint CKPT --video DIR_OR_FILE
        --out DIR [--num-frames 8] [--stride 2] [--start 0] [--size 224]
        [--assign sinkhorn|argmax] [--device cpu]

Writes to DIR: ``tracks.png`` (point tracks coloured by the teacher's cluster
of the point in each frame), ``pca_features.png`` (PCA-RGB of the student's
patch features, one PCA over the clip), ``clusters.png`` (the teacher's
cluster of every patch over the frames), ``frames.png`` (the input) and
``tracks_clusters.gif`` (animation: tracks | cluster map | PCA-RGB).
"""
import argparse
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402
from tqdm import tqdm  # noqa: E402

import mosic_mm  # noqa: E402,F401
from mosic_mm.datasets.video_io import (read_frame,  # noqa: E402
                                        read_video)
from mosic_mm.registry import MODELS  # noqa: E402
from mosic_mm.trackers import build_tracker, grid_queries  # noqa: E402
from mosic_mm.visualization import (clip_outputs, clip_panels,  # noqa: E402
                                    panel_grid, tile)

FRAME_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', required=True)
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--video', required=True,
                   help='a frame folder or a video file')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--num-frames', type=int, default=8)
    p.add_argument('--stride', type=int, default=1)
    p.add_argument('--start', type=int, default=0)
    p.add_argument('--size', type=int, default=None,
                   help='square network input; default: the backbone '
                   'img_size of the config')
    p.add_argument('--grid-size', type=int, default=None,
                   help='query grid per side; default: the config\'s '
                   'TrackPoints grid_size, else 16')
    p.add_argument('--assign', choices=['sinkhorn', 'argmax'],
                   default='sinkhorn')
    p.add_argument('--scale', type=int, default=2)
    p.add_argument('--fps', type=float, default=3.0)
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def load_clip(video: str, start: int, num: int, stride: int) -> np.ndarray:
    """uint8 RGB [T,H,W,3] frames start, start+stride, ... of a frame folder
    or a video file."""
    if osp.isdir(video):
        paths = sorted(osp.join(video, f) for f in os.listdir(video)
                       if f.lower().endswith(FRAME_EXTS)
                       and not f.startswith('.'))
        total = len(paths)
    elif osp.isfile(video):
        import decord
        total = len(decord.VideoReader(video, num_threads=1))
    else:
        raise FileNotFoundError(f'--video {video}: no such folder or file')
    inds = list(range(start, total, stride))[:num]
    if len(inds) < 2:
        raise ValueError(f'--video {video} has {total} frames: cannot take '
                         f'{num} frames from {start} with stride {stride}')
    if osp.isdir(video):
        frames = [read_frame(paths[i]) for i in tqdm(inds, desc='read')]
        hw = frames[0].shape[:2]
        frames = [cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
                  if f.shape[:2] != hw else f for f in frames]
        return np.stack(frames)
    return read_video(video, inds)


def pipeline_value(cfg, transform: str, key: str, default):
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get(
        'pipeline', [])
    for t in pipeline:
        if t.get('type') == transform and key in t:
            return t[key]
    return default


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    size = args.size or cfg.model.backbone.get('img_size', 224)
    grid_size = args.grid_size or pipeline_value(cfg, 'TrackPoints',
                                                 'grid_size', 16)
    tracker_cfg = pipeline_value(cfg, 'TrackPoints', 'tracker',
                                 dict(type='DISFlowTracker'))

    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    model.to(args.device).eval()

    clip = load_clip(args.video, args.start, args.num_frames, args.stride)
    frames = np.stack([cv2.resize(f, (size, size),
                                  interpolation=cv2.INTER_AREA)
                       for f in clip])
    print(f'tracking a {grid_size}x{grid_size} grid through {len(frames)} '
          f'frames ({tracker_cfg["type"]}) ...', flush=True)
    tracker = build_tracker(dict(tracker_cfg))
    tracks, vis = tracker.track(frames, grid_queries(size, size, grid_size))
    vis = np.asarray(vis, dtype=bool)
    vis[0] = True

    raw = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        inputs = model.data_preprocessor(
            dict(inputs=[raw]), False)['inputs'][0].to(args.device)
        out = clip_outputs(model, inputs,
                           torch.as_tensor(tracks, dtype=torch.float32),
                           assign=args.assign, chunk=8)
    panels = clip_panels(frames, tracks, vis, out, scale=args.scale)
    os.makedirs(args.out, exist_ok=True)
    written = []
    grids = panel_grid(panels, names=('frames', 'tracks', 'pca', 'clusters'))
    for name, fname in (('frames', 'frames.png'), ('tracks', 'tracks.png'),
                        ('pca', 'pca_features.png'),
                        ('clusters', 'clusters.png')):
        path = osp.join(args.out, fname)
        if not cv2.imwrite(path, cv2.cvtColor(grids[name],
                                              cv2.COLOR_RGB2BGR)):
            raise OSError(f'cannot write {path}')
        written.append(path)

    from PIL import Image
    gif = [Image.fromarray(tile([panels['tracks'][t], panels['clusters'][t],
                                 panels['pca'][t]]))
           for t in tqdm(range(len(frames)), desc='animation')]
    path = osp.join(args.out, 'tracks_clusters.gif')
    gif[0].save(path, save_all=True, append_images=gif[1:],
                duration=int(1000 / args.fps), loop=0)
    written.append(path)
    print('wrote:\n  ' + '\n  '.join(written))
    return written


if __name__ == '__main__':
    main()
