"""An oracle tracker for the project's synthetic videos."""
import copy
import json
import os.path as osp
from typing import Optional, Tuple

import numpy as np

from mosic_mm.registry import TRACKERS
from mosic_mm.synthetic import ground_truth_tracks, render_scene

from .base import BaseTracker


@TRACKERS.register_module()
class SyntheticGroundTruthTracker(BaseTracker):
    """Exact tracks of any query point of a synthetic video (written by
    :func:`mosic_mm.synthetic.write_dataset`): what a perfect
    tracker would return, standing in for CoTracker3 where its weights
    cannot be downloaded (``configs/mini/mosic_gt_tracks.py``).

    A query belongs to whatever is topmost at its pixel in its frame and
    moves with it; it is visible where that owner is topmost
    (:func:`mosic_mm.synthetic.ground_truth_tracks`).

    It needs to know which clip it sees: :meth:`for_clip` binds it to
    ``results['data_root']``, ``results['video_id']`` and
    ``results['frame_inds']`` (``TrackPoints``, ``LoadTracks``'s fallback
    and ``tools/extract_tracks.py`` call it). Frames resized before tracking
    are handled (coordinates scale with the frame size). The video's scene
    is re-rendered from ``meta.json`` (its seed and generator settings) and
    kept for the next clip of the same video.
    """

    def __init__(self):
        self._video_key = None
        self._scene = None
        self._clip: Optional[Tuple[dict, dict, np.ndarray]] = None

    def for_clip(self, results: dict) -> 'SyntheticGroundTruthTracker':
        for key in ('data_root', 'video_id', 'frame_inds'):
            if key not in results:
                raise KeyError(f'SyntheticGroundTruthTracker needs '
                               f'results["{key}"] (a VideoTrajectoryDataset '
                               'clip of a synthetic dataset)')
        root, vid = results['data_root'], results['video_id']
        if self._video_key != (root, vid):
            meta_path = osp.join(root, 'meta.json')
            try:
                with open(meta_path) as f:
                    meta = json.load(f)
                params, seed = meta['params'], meta['video_seeds'][vid]
            except (OSError, ValueError, KeyError) as e:
                raise ValueError(
                    f'SyntheticGroundTruthTracker: {meta_path} does not '
                    f'describe video {vid!r} of a synthetic dataset '
                    f'({type(e).__name__}: {e})') from None
            self._scene = render_scene(
                seed, params['num_frames'], tuple(params['size']),
                tuple(params['num_objects']), params['num_points'],
                style=params.get('style', 'default'))
            self._video_key = (root, vid)
        bound = copy.copy(self)
        bound._clip = self._scene + (
            np.asarray(results['frame_inds'], np.int64).reshape(-1), )
        return bound

    def _track(self, frames: np.ndarray,
               queries: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        if self._clip is None:
            raise RuntimeError(
                'SyntheticGroundTruthTracker tracks a known synthetic clip: '
                'bind it with for_clip(results) first (TrackPoints, '
                'LoadTracks and tools/extract_tracks.py do)')
        video, scene, inds = self._clip
        num_frames, height, width = frames.shape[:3]
        if len(inds) != num_frames:
            raise ValueError(f'{num_frames} frames given for a clip of '
                             f'{len(inds)} frame indices')
        src_h, src_w = video['instance_masks'].shape[1:]
        scale = np.array([src_w / width, src_h / height])
        tracks = np.empty((num_frames, len(queries), 2), np.float32)
        visibility = np.empty((num_frames, len(queries)), bool)
        for t in np.unique(queries[:, 0]).astype(np.int64):
            sel = queries[:, 0] == t
            xy = (queries[sel, 1:3] + 0.5) * scale - 0.5
            tr, vis = ground_truth_tracks(video, scene, int(inds[t]), xy)
            tracks[:, sel] = (tr[inds] + 0.5) / scale - 0.5
            visibility[:, sel] = vis[inds]
        return tracks, visibility
