"""Choosing a fixed number of tracks per clip."""
import numpy as np
from mmcv.transforms import BaseTransform

from mosic_mm.registry import TRANSFORMS


def select_track_indices(visible0: np.ndarray, num_tracks: int) -> np.ndarray:
    """Indices of at most ``num_tracks`` tracks visible in frame 0.

    Args:
        visible0: bool ``[N]``, visibility of each track in frame 0.
        num_tracks: how many to keep.

    Returns:
        int64 ``[min(num_tracks, visible0.sum())]`` in increasing order: all
        visible tracks, or an evenly spread subset of them (``np.linspace``
        over the visible ones in their original order, so a query grid keeps
        grid-like coverage).
    """
    cand = np.flatnonzero(np.asarray(visible0, dtype=bool))
    if cand.size <= num_tracks:
        return cand.astype(np.int64)
    # Spacing > 1 between positions, so the rounded positions are distinct.
    pos = np.round(np.linspace(0, cand.size - 1, num_tracks)).astype(np.int64)
    return cand[pos].astype(np.int64)


@TRANSFORMS.register_module()
class SelectTracks(BaseTransform):
    """Keep exactly ``num_tracks`` tracks per clip.

    Tracks visible in frame 0 are candidates. More than ``num_tracks`` ->
    an evenly spread subset in the original order; fewer -> padded at the
    end with zero coordinates and visibility False in every frame.

    Required keys: ``tracks`` float32 ``[T, N, 2]``, ``visibility`` bool
    ``[T, N]``. Modified keys: ``tracks`` ``[T, num_tracks, 2]``,
    ``visibility`` ``[T, num_tracks]``.
    """

    def __init__(self, num_tracks: int = 256):
        if int(num_tracks) != num_tracks or num_tracks < 1:
            raise ValueError('SelectTracks num_tracks must be a positive int, '
                             f'got {num_tracks!r}')
        self.num_tracks = int(num_tracks)

    def transform(self, results: dict) -> dict:
        if 'tracks' not in results or 'visibility' not in results:
            raise KeyError('SelectTracks needs results["tracks"] and '
                           'results["visibility"]; put TrackPoints or '
                           'LoadTracks before it')
        tracks = np.asarray(results['tracks'], dtype=np.float32)
        vis = np.asarray(results['visibility'], dtype=bool)
        if tracks.ndim != 3 or tracks.shape[2] != 2 or \
                vis.shape != tracks.shape[:2]:
            raise ValueError('SelectTracks expects tracks [T, N, 2] and '
                             f'visibility [T, N], got {tracks.shape} and '
                             f'{vis.shape}')
        t = tracks.shape[0]
        keep = select_track_indices(vis[0], self.num_tracks)
        out_tracks = np.zeros((t, self.num_tracks, 2), dtype=np.float32)
        out_vis = np.zeros((t, self.num_tracks), dtype=bool)
        out_tracks[:, :keep.size] = tracks[:, keep]
        out_vis[:, :keep.size] = vis[:, keep]
        results['tracks'] = out_tracks
        results['visibility'] = out_vis
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_tracks={self.num_tracks})'
