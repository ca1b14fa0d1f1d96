"""Drawing what a MoSiC checkpoint sees in a video (``tools/visualize.py``):
point tracks coloured by the teacher's cluster, PCA-RGB of the student's
patch features, the teacher's cluster map, and an animation of the three.
"""
import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from tqdm import tqdm

import mosic_mm  # noqa: F401
from mosic_mm.datasets.sources.video_io import read_frame, read_video
from mosic_mm.registry import MODELS
from mosic_mm.structures import grid_queries
from mosic_mm.tracks.trackers import build_tracker
from mosic_mm.utils.config import registry_scope
from mosic_mm.visualization import clip_outputs, clip_panels, panel_grid, tile

FRAME_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


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
    """``key`` of the first ``transform`` step of the train pipeline that
    sets it, else ``default``."""
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get(
        'pipeline', [])
    for t in pipeline:
        if t.get('type') == transform and key in t:
            return t[key]
    return default


def visualize(config: str, checkpoint: str, video: str, out: str,
              num_frames: int = 8, stride: int = 1, start: int = 0,
              size: Optional[int] = None, grid_size: Optional[int] = None,
              assign: str = 'sinkhorn', scale: int = 2, fps: float = 3.0,
              device: str = 'cpu') -> List[str]:
    """Draw what the model of ``config`` with ``checkpoint`` (loaded
    strictly) sees in frames ``start, start+stride, ...`` (``num_frames``)
    of ``video`` (a frame folder or a video file), resized to ``size``
    (default: the backbone's img_size), with a ``grid_size`` query grid
    (default: the config's TrackPoints grid, else 16) tracked by the
    config's tracker; teacher clusters by ``assign`` ('sinkhorn' or
    'argmax'); panels upscaled ``scale`` times; the GIF at ``fps``.

    Returns:
        list: the written files (frames.png, tracks.png, pca_features.png,
        clusters.png, tracks_clusters.gif under ``out``).
    """
    cfg = Config.fromfile(config)
    size = size or cfg.model.backbone.get('img_size', 224)
    grid_size = grid_size or pipeline_value(cfg, 'TrackPoints', 'grid_size',
                                            16)
    tracker_cfg = pipeline_value(cfg, 'TrackPoints', 'tracker',
                                 dict(type='DISFlowTracker'))

    with registry_scope(cfg):
        model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.to(device).eval()

    clip = load_clip(video, start, num_frames, stride)
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
            dict(inputs=[raw]), False)['inputs'][0].to(device)
        outputs = clip_outputs(model, inputs,
                               torch.as_tensor(tracks, dtype=torch.float32),
                               assign=assign, chunk=8)
    panels = clip_panels(frames, tracks, vis, outputs, scale=scale)
    os.makedirs(out, exist_ok=True)
    written = []
    grids = panel_grid(panels, names=('frames', 'tracks', 'pca', 'clusters'))
    for name, fname in (('frames', 'frames.png'), ('tracks', 'tracks.png'),
                        ('pca', 'pca_features.png'),
                        ('clusters', 'clusters.png')):
        path = osp.join(out, fname)
        if not cv2.imwrite(path, cv2.cvtColor(grids[name],
                                              cv2.COLOR_RGB2BGR)):
            raise OSError(f'cannot write {path}')
        written.append(path)

    from PIL import Image
    gif = [Image.fromarray(tile([panels['tracks'][t], panels['clusters'][t],
                                 panels['pca'][t]]))
           for t in tqdm(range(len(frames)), desc='animation')]
    path = osp.join(out, 'tracks_clusters.gif')
    gif[0].save(path, save_all=True, append_images=gif[1:],
                duration=int(1000 / fps), loop=0)
    written.append(path)
    print('wrote:\n  ' + '\n  '.join(written))
    return written
