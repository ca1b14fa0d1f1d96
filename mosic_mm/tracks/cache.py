"""The track cache: one file per video with the tracks of every clip window.

File ``<cache_dir>/<video_id>.npz`` (``numpy.savez``, no pickle), written
atomically (temporary file in the same folder, fsync, ``os.replace``):

- ``header``: a JSON string (0-d unicode array) with ``format``,
  ``version``, ``video_id``, ``tracker`` (the tracker config), ``grid_size``
  (query grid on the window's first frame: the tracker's ``query_grid``,
  i.e. :func:`mosic_mm.structures.grid_queries`, or CoTracker3's own
  grid; frame 0 of the tracks holds the points), ``clip_len``, ``stride``
  (effective step between frames), ``frame_stride`` (the pipeline's
  ``SampleClip`` preferred stride), ``window_step``, ``total_frames``,
  ``frame_size`` ``[H, W]`` (images at the pipeline position of
  ``LoadTracks``) and ``window_starts`` (first frame of each window, see
  :meth:`mosic_mm.datasets.transforms.SampleClip.starts`).
- ``tracks``: float16 ``[S, T, N, 2]`` (x, y) pixels, S windows of T frames
  and ``N = grid_size**2`` points (|x| beyond 65504 saturates; such points
  are far outside the image and invisible anyway).
- ``visibility``: ``np.packbits`` of bool ``[S, T*N]``, uint8
  ``[S, ceil(T*N/8)]``.
"""
import json
import os.path as osp
import zipfile
import zlib
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from mosic_mm.utils.atomic import atomic_open

FORMAT = 'mosic_mm.track_cache'
VERSION = 1
_F16_MAX = float(np.finfo(np.float16).max)

__all__ = [
    'FORMAT', 'VERSION', 'TrackCacheError', 'UnreadableTrackFile',
    'cache_path', 'default_cache_dir',
    'make_header', 'header_mismatch', 'write_track_file', 'read_header',
    'read_track_file'
]


class TrackCacheError(ValueError):
    """A cache file is unreadable, of another format, or was extracted with
    other settings than the ones asked for."""


class UnreadableTrackFile(TrackCacheError):
    """A cache file is empty, truncated or corrupt (nothing in it is worth
    keeping: ``tools/extract_tracks.py`` replaces it without
    ``--overwrite``)."""


# what numpy / zipfile raise on empty, truncated or damaged .npz files
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile,
                zlib.error)
DEFAULT_EXTRACT_CMD = 'python tools/extract_tracks.py CONFIG (your training ' \
    'config)'


def _unreadable(path: str, what: str, error: BaseException,
                extract_cmd: Optional[str]) -> UnreadableTrackFile:
    size = osp.getsize(path) if osp.exists(path) else None
    empty = ' (0 bytes)' if size == 0 else ''
    return UnreadableTrackFile(
        f'track cache file {path}{empty} {what} ({type(error).__name__}: '
        f'{error}): truncated or corrupt. Re-run the extraction, which '
        f'replaces unreadable files: {extract_cmd or DEFAULT_EXTRACT_CMD}')


def default_cache_dir(data_root: str, tracker_type: str) -> str:
    """``<data_root>/track_cache/<tracker_type>``."""
    if not data_root:
        raise ValueError('the default track cache dir needs a data_root; set '
                         'cache_dir explicitly')
    return osp.join(data_root, 'track_cache', str(tracker_type))


def cache_path(cache_dir: str, video_id: str) -> str:
    """``<cache_dir>/<video_id>.npz`` (``video_id`` may contain ``/``)."""
    if not video_id or osp.isabs(video_id) or '..' in video_id.split('/'):
        raise ValueError(f'invalid video_id {video_id!r} for a cache file')
    return osp.join(cache_dir, *video_id.split('/')) + '.npz'


def make_header(video_id: str, tracker: dict, grid_size: int, clip_len: int,
                stride: int, frame_stride: int, window_step: Optional[int],
                total_frames: int, frame_size: Sequence[int],
                window_starts: Sequence[int]) -> dict:
    """The header dict of a cache file (JSON-serialisable)."""
    return dict(format=FORMAT, version=VERSION, video_id=str(video_id),
                tracker=json.loads(json.dumps(dict(tracker))),
                grid_size=int(grid_size), clip_len=int(clip_len),
                stride=int(stride), frame_stride=int(frame_stride),
                window_step=None if window_step is None else int(window_step),
                total_frames=int(total_frames),
                frame_size=[int(v) for v in frame_size],
                window_starts=[int(v) for v in window_starts])


def header_mismatch(header: dict, expected: Dict[str, object]) -> list:
    """``['field: file has A, expected B', ...]`` for every key of
    ``expected`` whose value differs from the header's (lists and tuples
    compare equal; ``tracker`` compares the whole config)."""
    def norm(v):
        return list(v) if isinstance(v, (tuple, list)) else v
    out = []
    for key, want in expected.items():
        have = header.get(key)
        if norm(have) != norm(want):
            out.append(f'{key}: file has {have!r}, expected {want!r}')
    return out


def _check_header(header: dict, path: str) -> dict:
    if not isinstance(header, dict) or header.get('format') != FORMAT:
        raise TrackCacheError(f'{path} is not a {FORMAT} file')
    if header.get('version') != VERSION:
        raise TrackCacheError(
            f'{path} has track cache version {header.get("version")}, this '
            f'code reads version {VERSION}; re-extract it with '
            'tools/extract_tracks.py --overwrite')
    return header


def write_track_file(path: str, header: dict, tracks: np.ndarray,
                     visibility: np.ndarray) -> int:
    """Write one cache file atomically.

    Args:
        path: destination (folders are created).
        header: from :func:`make_header`; ``len(window_starts) == S``.
        tracks: float ``[S, T, N, 2]``.
        visibility: bool ``[S, T, N]``.

    Returns:
        int: bytes written.
    """
    tracks = np.asarray(tracks)
    visibility = np.asarray(visibility, dtype=bool)
    num_windows = len(header['window_starts'])
    expected = (num_windows, header['clip_len'], header['grid_size']**2)
    if tracks.shape != expected + (2, ) or visibility.shape != expected:
        raise ValueError(
            f'{path}: tracks {tracks.shape} / visibility {visibility.shape} '
            f'do not match the header, expected {expected + (2, )} / '
            f'{expected}')
    if not np.isfinite(tracks).all():
        raise ValueError(f'{path}: tracks hold NaN or inf')
    tracks16 = np.clip(tracks, -_F16_MAX, _F16_MAX).astype(np.float16)
    packed = np.packbits(visibility.reshape(num_windows, -1), axis=1)
    with atomic_open(path, suffix='.npz') as f:
        np.savez(f, header=np.array(json.dumps(header)), tracks=tracks16,
                 visibility=packed)
        size = f.tell()
    return size


def _open(path: str, extract_cmd: Optional[str] = None):
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as e:
        raise _unreadable(path, 'cannot be read', e, extract_cmd) from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _unreadable(path, 'is not an .npz archive',
                          ValueError(f'a {type(npz).__name__}'), extract_cmd)
    return npz


def _header_of(npz, path: str, extract_cmd: Optional[str] = None) -> dict:
    try:
        header = json.loads(str(npz['header']))
    except _READ_ERRORS as e:
        raise _unreadable(path, 'has no readable header', e,
                          extract_cmd) from e
    return _check_header(header, path)


def read_header(path: str, extract_cmd: Optional[str] = None) -> dict:
    """The header of a cache file (:class:`UnreadableTrackFile` if empty,
    truncated or corrupt, :class:`TrackCacheError` if of another
    format/version). ``extract_cmd`` is the command the error suggests."""
    with _open(path, extract_cmd) as npz:
        return _header_of(npz, path, extract_cmd)


def read_track_file(path: str, window: Optional[int] = None,
                    extract_cmd: Optional[str] = None
                    ) -> Tuple[dict, np.ndarray, np.ndarray]:
    """Read a cache file.

    Args:
        path: the file.
        window: index into ``header['window_starts']``; None reads all.
        extract_cmd: the extraction command an unreadable file's error
            suggests (default: ``python tools/extract_tracks.py CONFIG``).

    Returns:
        ``(header, tracks, visibility)``: float32 ``[T, N, 2]`` and bool
        ``[T, N]`` for one window, or ``[S, T, N, 2]`` / ``[S, T, N]``.
    """
    with _open(path, extract_cmd) as npz:
        header = _header_of(npz, path, extract_cmd)
        try:
            tracks = npz['tracks']
            packed = npz['visibility']
        except _READ_ERRORS as e:
            raise _unreadable(path, 'has unreadable arrays', e,
                              extract_cmd) from e
    num_windows = len(header['window_starts'])
    t, n = header['clip_len'], header['grid_size']**2
    if tracks.shape != (num_windows, t, n, 2) or \
            packed.shape != (num_windows, (t * n + 7) // 8):
        raise TrackCacheError(
            f'track cache file {path}: arrays {tracks.shape} / '
            f'{packed.shape} disagree with its header ({num_windows} '
            f'windows, clip_len {t}, {n} points)')
    if window is not None:
        tracks, packed = tracks[window:window + 1], packed[window:window + 1]
    vis = np.unpackbits(packed, axis=1, count=t * n).astype(bool)
    vis = vis.reshape(len(tracks), t, n)
    tracks = tracks.astype(np.float32)
    if window is not None:
        return header, tracks[0], vis[0]
    return header, tracks, vis
