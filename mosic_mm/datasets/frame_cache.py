"""The frame cache: per video, the frames at training resolution.

Decoding 720p JPEGs or videos dominates the input pipeline once tracks are
cached; datasets reused across many runs can store the frames the training
pipeline would decode, already resized (``tools/extract_frames.py``), and
``LoadClip`` reads them when present.

One file per video, ``<cache_dir>/<video_id>.frames``, written atomically
(temporary file in the same folder, fsync, ``os.replace``)::

    bytes 0..7   magic b'MOSICFC1'
    bytes 8..15  uint64 little-endian length L of the header
    bytes 16..   JSON header (L bytes), zero padding to ``data_offset``
    data_offset  payload

Header keys: ``format``, ``version``, ``video_id``, ``source_size``
``[H, W]`` of the decoded source, ``size`` ``[h, w]`` of the stored frames,
``interpolation`` (:func:`resize_frames` filter used), ``encoding``
(``'raw'``: uint8 ``[K, h, w, 3]`` RGB, memory-mapped on read; ``'jpeg'``:
K JPEG files back to back, ``jpeg_offsets`` ``[K + 1]`` relative to
``data_offset``), ``quality`` (JPEG), ``total_frames`` of the video,
``frame_inds`` (the K source frame indices stored, increasing) and
``data_offset``.
"""
import json
import os
import os.path as osp
import struct
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

from mosic_mm.datasets.resize import resize_frames
from mosic_mm.datasets.sources.video_io import read_frame, read_video
from mosic_mm.datasets.transforms.sampling import SampleClip
from mosic_mm.utils.atomic import atomic_open

FORMAT = 'mosic_mm.frame_cache'
VERSION = 1
MAGIC = b'MOSICFC1'
ENCODINGS = ('raw', 'jpeg')
_ALIGN = 4096

__all__ = [
    'FrameCacheError', 'default_frame_cache_dir', 'frame_cache_path',
    'write_frame_file', 'read_frame_header', 'FrameCacheReader'
]


class FrameCacheError(ValueError):
    """A frame cache file is unreadable, truncated or of another format."""


def default_frame_cache_dir(data_root: str, size: Sequence[int]) -> str:
    """``<data_root>/frame_cache/<h>x<w>`` (either encoding)."""
    if not data_root:
        raise ValueError('the default frame cache dir needs a data_root; set '
                         'the cache dir explicitly')
    h, w = (int(v) for v in size)
    return osp.join(data_root, 'frame_cache', f'{h}x{w}')


def frame_cache_path(cache_dir: str, video_id: str) -> str:
    """``<cache_dir>/<video_id>.frames`` (``video_id`` may contain ``/``)."""
    if not video_id or osp.isabs(video_id) or '..' in video_id.split('/'):
        raise ValueError(f'invalid video_id {video_id!r} for a cache file')
    return osp.join(cache_dir, *video_id.split('/')) + '.frames'


def write_frame_file(path: str, video_id: str, frames: np.ndarray,
                     frame_inds: Sequence[int], total_frames: int,
                     source_size: Sequence[int], interpolation: str,
                     encoding: str = 'raw', quality: int = 95) -> int:
    """Write one cache file atomically.

    Args:
        path: destination (folders are created).
        video_id: the dataset's id of the video.
        frames: uint8 ``[K, h, w, 3]`` RGB, already at cache resolution.
        frame_inds: the K source frame indices, strictly increasing.
        total_frames: frames of the source video.
        source_size: ``(H, W)`` of the source frames.
        interpolation: the resize filter the frames were made with.
        encoding: 'raw' (exact, memory-mapped) or 'jpeg' (smaller,
            re-encoding error).
        quality: JPEG quality for ``encoding='jpeg'``.

    Returns:
        int: bytes written.
    """
    frames = np.asarray(frames)
    inds = [int(i) for i in frame_inds]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f'{path}: frames must be uint8 [K, h, w, 3], got '
                         f'{frames.dtype} {frames.shape}')
    if len(inds) != len(frames) or any(b <= a for a, b in zip(inds, inds[1:])):
        raise ValueError(f'{path}: frame_inds must be {len(frames)} strictly '
                         f'increasing indices, got {inds[:10]}...')
    if encoding not in ENCODINGS:
        raise ValueError(f'encoding must be one of {ENCODINGS}, got '
                         f'{encoding!r}')
    header = dict(format=FORMAT, version=VERSION, video_id=str(video_id),
                  source_size=[int(v) for v in source_size],
                  size=[int(v) for v in frames.shape[1:3]],
                  interpolation=str(interpolation), encoding=encoding,
                  quality=int(quality), total_frames=int(total_frames),
                  frame_inds=inds)
    if encoding == 'raw':
        blobs = [np.ascontiguousarray(frames).tobytes()]
    else:
        blobs = []
        for f in frames:
            ok, buf = cv2.imencode('.jpg', f[..., ::-1],
                                   [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:
                raise RuntimeError(f'{path}: OpenCV failed to encode a frame')
            blobs.append(buf.tobytes())
        header['jpeg_offsets'] = [0] + np.cumsum(
            [len(b) for b in blobs]).tolist()
    # the header holds data_offset, whose digits may change its length
    header['data_offset'] = 0
    while True:
        raw = json.dumps(header).encode('utf-8')
        offset = -(-(16 + len(raw)) // _ALIGN) * _ALIGN
        if offset == header['data_offset']:
            break
        header['data_offset'] = offset
    with atomic_open(path, suffix='.frames') as f:
        f.write(MAGIC + struct.pack('<Q', len(raw)) + raw)
        f.write(b'\0' * (offset - 16 - len(raw)))
        for b in blobs:
            f.write(b)
        size = f.tell()
    return size


def read_frame_header(path: str) -> dict:
    """The header of a cache file, checked against the file size
    (:class:`FrameCacheError` if unreadable, truncated or another format)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
            if len(head) != 16 or head[:8] != MAGIC:
                raise FrameCacheError(
                    f'{path} is not a mosic_mm frame cache file (bad magic); '
                    'delete it and re-run tools/extract_frames.py')
            (length, ) = struct.unpack('<Q', head[8:])
            raw = f.read(length)
            size = os.fstat(f.fileno()).st_size
        header = json.loads(raw.decode('utf-8'))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        if isinstance(e, FrameCacheError):
            raise
        raise FrameCacheError(
            f'cannot read frame cache file {path} ({type(e).__name__}: {e}); '
            'delete it and re-run tools/extract_frames.py') from e
    if header.get('format') != FORMAT or header.get('version') != VERSION:
        raise FrameCacheError(
            f'{path}: format {header.get("format")!r} version '
            f'{header.get("version")!r}, expected {FORMAT!r} {VERSION}; '
            're-run tools/extract_frames.py --overwrite')
    k = len(header['frame_inds'])
    h, w = header['size']
    if header['encoding'] == 'raw':
        need = header['data_offset'] + k * h * w * 3
    else:
        need = header['data_offset'] + header['jpeg_offsets'][-1]
    if size < need:
        raise FrameCacheError(
            f'frame cache file {path} is truncated ({size} bytes, the header '
            f'needs {need}); delete it and re-run tools/extract_frames.py')
    return header


class FrameCacheReader:
    """Random access to the frames of one cache file.

    Args:
        path: a ``.frames`` file.
    """

    def __init__(self, path: str):
        self.path = path
        self.header = read_frame_header(path)
        self.size = tuple(self.header['size'])
        self._pos: Dict[int, int] = {
            int(i): k for k, i in enumerate(self.header['frame_inds'])}
        self._mm: Optional[np.ndarray] = None

    def missing(self, inds: Sequence[int]) -> list:
        """The indices of ``inds`` not stored in this file."""
        return [int(i) for i in inds if int(i) not in self._pos]

    def read(self, inds: Sequence[int]) -> np.ndarray:
        """uint8 ``[T, h, w, 3]`` RGB for source frame indices ``inds``
        (:class:`FrameCacheError` for an index not stored)."""
        missing = self.missing(inds)
        if missing:
            raise FrameCacheError(
                f'{self.path} does not hold frames {missing[:8]} (it holds '
                f'{len(self._pos)} frames of video '
                f'"{self.header["video_id"]}"); re-run '
                'tools/extract_frames.py with the training config')
        pos = [self._pos[int(i)] for i in inds]
        h, w = self.size
        off = self.header['data_offset']
        if self.header['encoding'] == 'raw':
            if self._mm is None:
                self._mm = np.memmap(self.path, dtype=np.uint8, mode='r',
                                     offset=off,
                                     shape=(len(self._pos), h, w, 3))
            return np.ascontiguousarray(self._mm[pos])
        bounds = self.header['jpeg_offsets']
        out = np.empty((len(pos), h, w, 3), np.uint8)
        with open(self.path, 'rb') as f:
            for j, k in enumerate(pos):
                f.seek(off + bounds[k])
                buf = np.frombuffer(f.read(bounds[k + 1] - bounds[k]),
                                    np.uint8)
                img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                if img is None or img.shape[:2] != (h, w):
                    raise FrameCacheError(
                        f'{self.path}: frame {k} does not decode to {h}x{w}; '
                        'delete the file and re-run tools/extract_frames.py')
                cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=out[j])
        return out


def cache_frame_indices(total_frames: int, sampler: SampleClip
                        ) -> np.ndarray:
    """The frames any clip ``sampler`` picks from a video can use: the
    union over its starts of its frame indices (int64, increasing). With
    the YT-VOS recipe (stride 6, window_step 12) that is every 6th frame."""
    starts = sampler.starts(total_frames)
    inds = starts[:, None] + sampler.step(total_frames) * np.arange(
        sampler.clip_len)[None]
    return np.unique(inds.reshape(-1)).astype(np.int64)


def decode_for_cache(info: dict, frame_inds: Sequence[int],
                     size: Sequence[int], interpolation: str = 'bilinear',
                     chunk: int = 16):
    """Decode frames ``frame_inds`` of a dataset video fully and resize them
    to ``size`` ``(h, w)`` with ``interpolation``: what ``LoadClip()`` +
    ``ClipResize`` compute in training.

    Args:
        info: a data info of :class:`VideoTrajectoryDataset` (``frame_paths``
            or ``video_path``).
        frame_inds: source frame indices.
        size: ``(h, w)`` of the cached frames.
        interpolation: :func:`resize_frames` filter.
        chunk: video frames decoded at full size at a time (memory bound).

    Returns:
        ``(frames uint8 [K, h, w, 3], source_size (H, W))``.
    """
    inds = np.asarray(frame_inds, dtype=np.int64)
    out, src = [], None
    for lo in range(0, len(inds), chunk):
        part = inds[lo:lo + chunk]
        if 'frame_paths' in info:
            full = [read_frame(info['frame_paths'][i]) for i in part]
            shapes = {f.shape[:2] for f in full}
            if len(shapes) != 1 or (src is not None and src not in shapes):
                raise ValueError(f'frames of video "{info["video_id"]}" '
                                 f'differ in size: {sorted(shapes)}')
            full = np.stack(full)
        else:
            full = read_video(info['video_path'], part)
        src = tuple(full.shape[1:3])
        out.append(resize_frames(full, tuple(size), interpolation))
    return np.concatenate(out), src
