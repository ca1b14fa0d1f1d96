"""Loading a clip of frames from a frame folder or a video file."""
import os
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mosic_mm.registry import TRANSFORMS


class CorruptVideoError(RuntimeError):
    """A frame or video file cannot be decoded (missing, truncated, corrupt,
    or inconsistent frame sizes). ``VideoTrajectoryDataset`` skips the clip in
    training and re-raises in test mode."""


def _check_decode_size(decode_size) -> Optional[Tuple[int, int]]:
    if decode_size is None:
        return None
    if (len(decode_size) != 2 or any(int(s) != s or s < 1
                                     for s in decode_size)):
        raise ValueError('LoadClip: decode_size must be None or (H, W) with '
                         f'positive integers, got {decode_size!r}')
    return int(decode_size[0]), int(decode_size[1])


def read_frame(path: str, decode_size: Optional[Tuple[int, int]] = None
               ) -> np.ndarray:
    """Read one image file as uint8 RGB ``[H, W, 3]``.

    Grayscale images are expanded to 3 channels and an alpha channel is
    dropped (OpenCV ``IMREAD_COLOR``; 16-bit images become 8-bit). With
    ``decode_size=(H, W)`` the frame is resized with ``INTER_AREA``.

    Raises:
        CorruptVideoError: the file is missing, unreadable or not decodable.
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise CorruptVideoError(f'cannot read frame {path}: {e}') from e
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise CorruptVideoError(
            f'cannot decode frame {path}: empty, truncated or unsupported '
            f'image file ({buf.size} bytes)')
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if decode_size is not None and img.shape[:2] != tuple(decode_size):
        img = cv2.resize(img, (decode_size[1], decode_size[0]),
                         interpolation=cv2.INTER_AREA)
    return img


def _read_video_decord(path: str, inds: np.ndarray,
                       decode_size: Optional[Tuple[int, int]]) -> np.ndarray:
    import decord
    kwargs = dict(num_threads=1)
    if decode_size is not None:
        kwargs.update(height=decode_size[0], width=decode_size[1])
    vr = decord.VideoReader(path, **kwargs)
    n = len(vr)
    if inds.size and (inds.min() < 0 or inds.max() >= n):
        raise CorruptVideoError(
            f'video {path} has {n} frames but frames {inds.tolist()} were '
            'requested')
    return vr.get_batch(inds.tolist()).asnumpy()


def _read_video_cv2(path: str, inds: np.ndarray,
                    decode_size: Optional[Tuple[int, int]]) -> np.ndarray:
    """Sequential OpenCV decoding (fallback for files decord mis-handles)."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise CorruptVideoError(f'OpenCV cannot open video {path}')
    wanted = {int(i) for i in inds}
    frames = {}
    pos, last = 0, int(inds.max()) if inds.size else -1
    try:
        while pos <= last:
            ok, frame = cap.read()
            if not ok:
                raise CorruptVideoError(
                    f'OpenCV could only decode {pos} frames of video {path}, '
                    f'frame {last} was requested')
            if pos in wanted:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if decode_size is not None:
                    frame = cv2.resize(frame, (decode_size[1], decode_size[0]),
                                       interpolation=cv2.INTER_AREA)
                frames[pos] = frame
            pos += 1
    finally:
        cap.release()
    return np.stack([frames[int(i)] for i in inds])


def read_video(path: str, inds: Sequence[int],
               decode_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Read frames ``inds`` of a video file as uint8 RGB ``[T, H, W, 3]``.

    Decodes with decord; when decord fails (it rejects some valid files,
    e.g. certain odd resolutions) it retries with OpenCV.

    Raises:
        CorruptVideoError: neither backend can decode the requested frames.
    """
    inds = np.asarray(inds, dtype=np.int64)
    if not os.path.isfile(path):
        raise CorruptVideoError(f'video file {path} does not exist')
    try:
        return _read_video_decord(path, inds, decode_size)
    except CorruptVideoError:
        raise
    except Exception as e:  # decord raises its own DECORDError / RuntimeError
        decord_reason = f'{type(e).__name__}: {str(e).strip()[:300]}'
    try:
        return _read_video_cv2(path, inds, decode_size)
    except CorruptVideoError as e:
        raise CorruptVideoError(
            f'cannot decode video {path}: decord failed ({decord_reason}); '
            f'OpenCV failed ({e})') from None


@TRANSFORMS.register_module()
class LoadClip(BaseTransform):
    """Load the clip ``frame_inds`` from ``frame_paths`` or ``video_path``.

    Required keys: ``frame_inds`` (int ``[T]``) and either ``frame_paths``
    (list[str], one image per frame) or ``video_path`` (str).

    Added keys: ``imgs`` uint8 ``[T, H, W, 3]`` RGB, ``img_shape`` and
    ``ori_shape`` ``(H, W)`` of the clip as decoded (after ``decode_size``;
    all later coordinates refer to this image).

    Args:
        decode_size (tuple[int, int] | None): ``(H, W)`` to decode at (decord
            ``height``/``width`` for videos, ``cv2.INTER_AREA`` for frames).
            None keeps the native resolution.

    Raises:
        CorruptVideoError: a file is unreadable or the frames of one clip
            have different sizes.
    """

    def __init__(self, decode_size: Optional[Sequence[int]] = None):
        self.decode_size = _check_decode_size(decode_size)

    def transform(self, results: dict) -> dict:
        if 'frame_inds' not in results:
            raise KeyError('LoadClip needs results["frame_inds"] (set by the '
                           'dataset\'s clip sampling)')
        inds = np.asarray(results['frame_inds'], dtype=np.int64).reshape(-1)
        if 'frame_paths' in results:
            imgs = self._load_frames(results['frame_paths'], inds)
        elif 'video_path' in results:
            imgs = read_video(results['video_path'], inds, self.decode_size)
        else:
            raise KeyError('LoadClip needs results["frame_paths"] or '
                           'results["video_path"]')
        imgs = np.ascontiguousarray(imgs, dtype=np.uint8)
        results['imgs'] = imgs
        results['img_shape'] = tuple(imgs.shape[1:3])
        results['ori_shape'] = tuple(imgs.shape[1:3])
        return results

    def _load_frames(self, frame_paths: List[str],
                     inds: np.ndarray) -> np.ndarray:
        n = len(frame_paths)
        if inds.size and (inds.min() < 0 or inds.max() >= n):
            raise IndexError(f'LoadClip: frame_inds {inds.tolist()} out of '
                             f'range for a folder of {n} frames')
        frames = [read_frame(frame_paths[i], self.decode_size) for i in inds]
        first = frames[0].shape[:2]
        for i, f in zip(inds, frames):
            if f.shape[:2] != first:
                raise CorruptVideoError(
                    f'frames of one clip differ in size: {frame_paths[i]} is '
                    f'{f.shape[0]}x{f.shape[1]} (HxW) but '
                    f'{frame_paths[inds[0]]} is {first[0]}x{first[1]}')
        return np.stack(frames)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(decode_size={self.decode_size})'
