"""The ``LoadClip`` transform: a clip of frames from the frame cache, a frame
folder or a video file (:mod:`mosic_mm.datasets.sources.video_io`), decoded
at the size the pipeline needs."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger

from mosic_mm.datasets.frame_cache import (
    FrameCacheError,
    FrameCacheReader,
    default_frame_cache_dir,
    frame_cache_path,
)
from mosic_mm.datasets.resize import INTERPOLATIONS, resize_frames
from mosic_mm.datasets.sources.video_io import (
    CorruptVideoError,
    _check_video_backend,
    read_frame,
    read_video,
)
from mosic_mm.registry import TRANSFORMS


def _check_decode_size(decode_size) -> Optional[Tuple[int, int]]:
    if decode_size is None:
        return None
    if (len(decode_size) != 2 or any(int(s) != s or s < 1
                                     for s in decode_size)):
        raise ValueError('LoadClip: decode_size must be None or (H, W) with '
                         f'positive integers, got {decode_size!r}')
    return int(decode_size[0]), int(decode_size[1])


@TRANSFORMS.register_module()
class LoadClip(BaseTransform):
    """Load the clip ``frame_inds`` from the frame cache, ``frame_paths`` or
    ``video_path``.

    Required keys: ``frame_inds`` (int ``[T]``) and either ``frame_paths``
    (list[str], one image per frame) or ``video_path`` (str); ``video_id``
    and ``data_root`` for the frame cache.

    Added keys: ``imgs`` uint8 ``[T, H, W, 3]`` RGB, ``img_shape`` and
    ``ori_shape`` ``(H, W)`` of the clip as decoded (after ``decode_size``;
    all later coordinates refer to this image).

    With ``decode_size`` equal to the size of the following ``ClipResize``
    (which then does nothing), the clip is decoded at the size the pipeline
    needs instead of full size; tracks in the coordinates of the resized
    frames stay valid (the resize maps the whole frame in both paths).

    Args:
        decode_size (tuple[int, int] | None): ``(H, W)`` to decode at. None
            keeps the native resolution.
        reduced_decode (bool): with ``decode_size``, decode JPEG frames at a
            libjpeg DCT-reduced scale >= ``decode_size`` before the
            antialiased resize (:func:`read_frame`); <= 2 grey levels mean
            absolute difference from the full decode (measured in
            tests/test_reduced_decode.py and docs/benchmarks.md). False
            decodes fully. Videos always decode at ``decode_size``.
        video_backend (str): how video files are decoded
            (:func:`read_video`): 'auto' (PyAV when installed, else
            decord), 'pyav', 'decord' (the pre-PyAV behaviour: decord's own
            scaler to ``decode_size``) or 'opencv'.
        interpolation (str): resize filter to ``decode_size``
            (:func:`resize_frames`); default PIL-style antialiased bilinear,
            as :class:`ClipResize`.
        frame_cache (bool): read the clip from the frame cache
            (``tools/extract_frames.py``) when the video has a file there;
            needs ``decode_size``. Cached frames of another size are
            resized to ``decode_size``. Videos without a cache file (or
            without the clip's frames) are decoded from the source and
            counted in ``num_cache_misses`` (logged).
        frame_cache_dir (str, optional): the cache folder; None ->
            ``<data_root>/frame_cache/<H>x<W>`` of ``decode_size``.

    Raises:
        CorruptVideoError: a file is unreadable or the frames of one clip
            have different sizes.
        FrameCacheError: a cache file exists but is corrupt.
    """

    def __init__(self, decode_size: Optional[Sequence[int]] = None,
                 reduced_decode: bool = True,
                 interpolation: str = 'bilinear',
                 frame_cache: bool = False,
                 frame_cache_dir: Optional[str] = None,
                 video_backend: str = 'auto'):
        self.decode_size = _check_decode_size(decode_size)
        self.video_backend = _check_video_backend(video_backend)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'LoadClip: interpolation must be one of '
                             f'{INTERPOLATIONS}, got {interpolation!r}')
        if frame_cache and self.decode_size is None:
            raise ValueError('LoadClip: frame_cache=True needs decode_size '
                             '(the size the cached frames are served at)')
        self.reduced_decode = bool(reduced_decode)
        self.interpolation = interpolation
        self.frame_cache = bool(frame_cache)
        self.frame_cache_dir = frame_cache_dir
        self.num_cache_misses = 0  # clips decoded from the source instead

    def transform(self, results: dict) -> dict:
        if 'frame_inds' not in results:
            raise KeyError('LoadClip needs results["frame_inds"] (set by '
                           'SampleClip, the pipeline\'s first step)')
        inds = np.asarray(results['frame_inds'], dtype=np.int64).reshape(-1)
        imgs = self._load_cached(results, inds) if self.frame_cache else None
        if imgs is not None:
            pass
        elif 'frame_paths' in results:
            imgs = self._load_frames(results['frame_paths'], inds)
        elif 'video_path' in results:
            imgs = read_video(results['video_path'], inds, self.decode_size,
                              self.interpolation, self.video_backend)
        else:
            raise KeyError('LoadClip needs results["frame_paths"] or '
                           'results["video_path"]')
        imgs = np.ascontiguousarray(imgs, dtype=np.uint8)
        results['imgs'] = imgs
        results['img_shape'] = tuple(imgs.shape[1:3])
        results['ori_shape'] = tuple(imgs.shape[1:3])
        return results

    def cache_dir(self, results: dict) -> str:
        """``frame_cache_dir``, or the default one under
        ``results['data_root']``."""
        if self.frame_cache_dir is not None:
            return self.frame_cache_dir
        if not results.get('data_root'):
            raise KeyError('LoadClip: frame_cache_dir is None and results has '
                           'no "data_root" (set by VideoTrajectoryDataset)')
        return default_frame_cache_dir(results['data_root'], self.decode_size)

    def _load_cached(self, results: dict,
                     inds: np.ndarray) -> Optional[np.ndarray]:
        if 'video_id' not in results:
            raise KeyError('LoadClip(frame_cache=True) needs '
                           'results["video_id"]')
        path = frame_cache_path(self.cache_dir(results), results['video_id'])
        reader = FrameCacheReader(path) if osp.isfile(path) else None
        missing = reader.missing(inds) if reader else None
        if reader is None or missing:
            self.num_cache_misses += 1
            n = self.num_cache_misses
            if n == 1 or n in (10, 100, 1000) or n % 10000 == 0:
                why = ('no cache file' if reader is None else
                       f'frames {missing[:4]} not cached')
                MMLogger.get_current_instance().warning(
                    f'LoadClip: {n} clip(s) decoded from the source so far '
                    f'in this process ({why}, e.g. {path}); run '
                    'tools/extract_frames.py to cache them')
            return None
        total = results.get('total_frames')
        if total is not None and reader.header['total_frames'] != total:
            raise FrameCacheError(
                f'{path} was extracted from a video of '
                f'{reader.header["total_frames"]} frames, the dataset has '
                f'{total}; re-run tools/extract_frames.py --overwrite')
        imgs = reader.read(inds)
        if imgs.shape[1:3] != self.decode_size:
            imgs = resize_frames(imgs, self.decode_size, self.interpolation)
        return imgs

    def _load_frames(self, frame_paths: List[str],
                     inds: np.ndarray) -> np.ndarray:
        n = len(frame_paths)
        if inds.size and (inds.min() < 0 or inds.max() >= n):
            raise IndexError(f'LoadClip: frame_inds {inds.tolist()} out of '
                             f'range for a folder of {n} frames')
        frames = [read_frame(frame_paths[i], self.decode_size,
                             self.reduced_decode, self.interpolation)
                  for i in inds]
        first = frames[0].shape[:2]
        for i, f in zip(inds, frames):
            if f.shape[:2] != first:
                raise CorruptVideoError(
                    f'frames of one clip differ in size: {frame_paths[i]} is '
                    f'{f.shape[0]}x{f.shape[1]} (HxW) but '
                    f'{frame_paths[inds[0]]} is {first[0]}x{first[1]}')
        return np.stack(frames)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(decode_size={self.decode_size}, '
                f'reduced_decode={self.reduced_decode}, '
                f'interpolation={self.interpolation!r}, '
                f'frame_cache={self.frame_cache}, '
                f'frame_cache_dir={self.frame_cache_dir!r}, '
                f'video_backend={self.video_backend!r})')
