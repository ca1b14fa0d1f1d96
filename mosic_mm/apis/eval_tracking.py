"""Scoring point trackers with the TAP-Vid metrics (AJ, <delta^x_avg, OA;
"query first") on the synthetic dataset's ground truth and on TAP-Vid
pickles (``tools/eval_tracking.py``).

TAP-Vid pickles (DAVIS: dict of videos; Kinetics: list of videos with
JPEG-encoded frames) are read with an unpickler that only accepts numpy
arrays.
"""
import ast
import glob
import os.path as osp
import pickle
import re
import time
from typing import Optional, Sequence

import cv2
import numpy as np

DEFAULT_TRACKERS = ('DISFlowTracker:preset=ultrafast',
                    'DISFlowTracker:preset=fast',
                    'DISFlowTracker:preset=medium')
_NUMPY_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
}


def parse_tracker(spec: str) -> dict:
    """``'Type:a=1,b=x,c=(64,64)'`` -> ``dict(type='Type', a=1, b='x',
    c=(64, 64))`` (a comma starts a new item only before ``key=``)."""
    name, _, rest = spec.partition(':')
    cfg = dict(type=name)
    for item in filter(None, re.split(r',(?=\s*\w+=)', rest)):
        key, sep, value = item.partition('=')
        if not sep:
            raise ValueError(f'tracker spec {spec!r}: expected key=value, '
                             f'got {item!r}')
        try:
            cfg[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            cfg[key] = value
    return cfg


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers, numbers, strings, bytes and numpy arrays only."""

    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'refusing to unpickle {module}.{name}: TAP-Vid pickles hold '
            'only numpy arrays')


def load_tapvid(path: str):
    """Yield ``(name, frames uint8 [T,H,W,3], points [N,T,2] in [0,1],
    occluded bool [N,T])`` from a TAP-Vid pickle."""
    with open(path, 'rb') as f:
        data = _NumpyOnlyUnpickler(f).load()
    items = data.items() if isinstance(data, dict) else (
        (str(i), v) for i, v in enumerate(data))
    for name, v in items:
        video = v['video']
        if not isinstance(video, np.ndarray):  # Kinetics: JPEG bytes
            video = np.stack([
                cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8),
                                          cv2.IMREAD_COLOR),
                             cv2.COLOR_BGR2RGB) for b in video])
        yield name, video, np.asarray(v['points']), np.asarray(
            v['occluded'], bool)


def load_synthetic(root: str, split: str):
    """Yield ``(name, frames [T,H,W,3], tracks [T,P,2], visible [T,P])``."""
    from mosic_mm.synthetic import write_dataset
    if not osp.isfile(osp.join(root, 'meta.json')):
        write_dataset(root)  # the synthetic config's defaults
    with open(osp.join(root, 'ImageSets', f'{split}.txt')) as f:
        names = [n.strip() for n in f if n.strip()]
    for name in names:
        paths = sorted(glob.glob(osp.join(root, 'JPEGImages', name, '*.jpg')))
        frames = np.stack([cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)
                           for p in paths])
        gt = np.load(osp.join(root, 'Tracks', name + '.npz'))
        yield name, frames, gt['tracks'], gt['visibility']


def resize_clip(frames, tracks, size):
    """Frames to ``size x size`` and (x, y) tracks with them."""
    h, w = frames.shape[1:3]
    if (h, w) == (size, size):
        return frames, tracks
    out = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)
                    for f in frames])
    scale = np.array([size / w, size / h], np.float32)
    return out, (tracks + 0.5) * scale - 0.5


def evaluate_video(tracker, frames, gt_tracks, gt_vis):
    """Query-first metrics of one video; returns (metrics, seconds)."""
    from mosic_mm.tracks.metrics import query_first_queries, tapvid_metrics
    keep, qf = query_first_queries(gt_vis)
    gt_tracks, gt_vis, qf = gt_tracks[:, keep], gt_vis[:, keep], qf[keep]
    idx = np.arange(len(qf))
    queries = np.concatenate(
        [qf[:, None].astype(np.float32), gt_tracks[qf, idx]], axis=1)
    start = time.perf_counter()
    pred, pred_vis = tracker.track(frames, queries)
    seconds = time.perf_counter() - start
    return tapvid_metrics(gt_tracks, gt_vis, pred, pred_vis, qf,
                          frames.shape[1:3]), seconds


def score(tracker, videos):
    """Average metrics, video count, points and frames/s over ``videos``."""
    from mosic_mm.tracks.metrics import average_metrics
    per_video, frames_done, seconds, points = [], 0, 0.0, 0
    for frames, tracks, vis in videos:
        m, s = evaluate_video(tracker, frames, tracks, vis)
        per_video.append(m)
        frames_done += len(frames)
        seconds += s
        points += int(vis.any(axis=0).sum())
    out = average_metrics(per_video)
    out.update(videos=len(per_video), points=points,
               fps=frames_done / seconds if seconds else float('nan'))
    return out


def speed(tracker, size=224, num_frames=12, grid=16, clips=3):
    """frames/s of ``tracker`` on synthetic clips, ``grid**2`` points."""
    from mosic_mm.structures import grid_queries
    from mosic_mm.synthetic import render_video
    q = grid_queries(size, size, grid)
    total = 0.0
    for seed in range(clips):
        frames = render_video(seed, num_frames, (size, size))['frames']
        start = time.perf_counter()
        tracker.track(frames, q)
        total += time.perf_counter() - start
    return clips * num_frames / total


def print_table(title, rows):
    print(f'\n{title}')
    head = (f'{"tracker":<44} {"videos":>6} {"points":>7} {"AJ":>6} '
            f'{"d_avg":>6} {"OA":>6} {"frames/s":>9}')
    print(head)
    print('-' * len(head))
    for name, r in rows:
        print(f'{name:<44} {r["videos"]:>6} {r["points"]:>7} '
              f'{100 * r["average_jaccard"]:6.1f} '
              f'{100 * r["average_pts_within_thresh"]:6.1f} '
              f'{100 * r["occlusion_accuracy"]:6.1f} {r["fps"]:9.1f}')


def eval_tracking(trackers: Sequence[str] = DEFAULT_TRACKERS,
                  synthetic: Optional[str] = 'data/synthetic',
                  split: str = 'val', tapvid: Sequence[str] = (),
                  size: Optional[int] = None, tapvid_size: int = 256,
                  max_videos: Optional[int] = None,
                  measure_speed: bool = False) -> dict:
    """Score the ``trackers`` (specs, :func:`parse_tracker`) on the synthetic
    ``split`` under ``synthetic`` (generated on first use; '' or None to
    skip; frames resized to ``size`` when given) and on each TAP-Vid pickle
    of ``tapvid`` (resized to ``tapvid_size``), at most ``max_videos`` per
    data set; ``measure_speed``: also frames/s on 12-frame 224x224 clips.
    Prints one table per data set.

    Returns:
        dict: ``{data set title: {spec: metrics}}``, and ``'speed':
        {spec: frames/s}`` with ``measure_speed``.
    """
    import mosic_mm  # noqa: F401
    from mosic_mm.tracks.trackers import build_tracker
    built = [(s, build_tracker(parse_tracker(s))) for s in trackers]

    datasets = []
    if synthetic:
        def synthetic_videos():
            for i, (_, fr, tr, vis) in enumerate(
                    load_synthetic(synthetic, split)):
                if max_videos is not None and i >= max_videos:
                    return
                if size:
                    fr, tr = resize_clip(fr, tr, size)
                yield fr, tr, vis
        shown = f'{size}px' if size else 'native size'
        datasets.append((f'synthetic {split} ({synthetic}, {shown})',
                         synthetic_videos))
    for path in tapvid:
        def tapvid_videos(path=path):
            s = tapvid_size
            for i, (_, fr, pts, occ) in enumerate(load_tapvid(path)):
                if max_videos is not None and i >= max_videos:
                    return
                fr, _ = resize_clip(fr, np.zeros((1, 1, 2), np.float32), s)
                # normalised [0,1] -> pixels with centres at integers
                tr = pts.transpose(1, 0, 2) * s - 0.5
                yield fr, tr.astype(np.float32), ~occ.T
        datasets.append((f'TAP-Vid {osp.basename(path)} ({tapvid_size}'
                         'px, query first)', tapvid_videos))

    results = {}
    for title, videos in datasets:
        rows = [(s, score(t, videos())) for s, t in built]
        print_table(title, rows)
        results[title] = dict(rows)
    if measure_speed:
        print('\nspeed: 12-frame 224x224 clips, 16x16 grid = 256 points')
        results['speed'] = {}
        for s, t in built:
            fps = speed(t)
            results['speed'][s] = fps
            print(f'{s:<44} {fps:9.1f} frames/s')
    return results
