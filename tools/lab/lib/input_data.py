"""The input benchmark's data: the project's synthetic videos at 720p as
JPEG frame folders or .mp4 files, a track cache for them and frame caches,
written once and reused (``tools/lab/benchmark_input.py``,
``tools/lab/gpu_check.py``)."""
import os
import os.path as osp
from typing import Sequence

import cv2
import numpy as np

SOURCE_HW = (720, 1280)


def _texture(rng: np.random.Generator, hw) -> np.ndarray:
    """Fine camera-like texture: blurred Gaussian noise, float32 [H,W,3]."""
    noise = rng.normal(0, 1, (*hw, 3)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 0.8) * 10.0


def render_720p(seed: int, num_frames: int,
                hw=SOURCE_HW) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` RGB: the project's synthetic video (moving
    textured objects, panning background) rendered at 1/4 size, upscaled
    (bicubic) to ``hw`` and overlaid with fine noise, so that a JPEG at
    quality 90 is ~150 KB like a YouTube-VOS frame and costs as much to
    decode."""
    from mosic_mm.synthetic import render_video
    small = render_video(seed, num_frames=num_frames,
                         size=(hw[0] // 4, hw[1] // 4))['frames']
    rng = np.random.default_rng(seed + 1000)
    out = np.empty((num_frames, *hw, 3), np.uint8)
    for i, f in enumerate(small):
        big = cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
        out[i] = np.clip(big.astype(np.float32) + _texture(rng, hw), 0, 255)
    return out


def make_dataset(root: str, num_videos: int = 4, num_frames: int = 96,
                 quality: int = 90, kind: str = 'jpeg',
                 hw=SOURCE_HW) -> str:
    """Write (once; reused when complete) ``num_videos`` videos of
    ``num_frames`` 720p frames: ``<root>/JPEGImages/<vid>/<i>.jpg`` at
    JPEG ``quality`` (kind 'jpeg') or ``<root>/videos/<vid>.mp4``
    (``cv2.VideoWriter`` mp4v, a key frame every 12 frames, kind 'video')
    or ``<root>/videos/<vid>.mp4`` (libx264 through PyAV with x264's
    defaults: CRF 23, B-frames, a key frame every 250 frames or at scene
    cuts -- how Kinetics-style clips are usually re-encoded, kind
    'video_h264'). Returns the dataset root."""
    done = osp.join(root, f'.complete_{kind}_{num_videos}_{num_frames}')
    if osp.isfile(done):
        return root
    for v in range(num_videos):
        frames = render_720p(v, num_frames, hw)
        vid = f'video{v:03d}'
        if kind == 'jpeg':
            folder = osp.join(root, 'JPEGImages', vid)
            os.makedirs(folder, exist_ok=True)
            for i, f in enumerate(frames):
                cv2.imwrite(osp.join(folder, f'{i:05d}.jpg'), f[..., ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
        elif kind == 'video':
            os.makedirs(osp.join(root, 'videos'), exist_ok=True)
            path = osp.join(root, 'videos', vid + '.mp4')
            vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 30,
                                 (hw[1], hw[0]))
            if not vw.isOpened():
                raise RuntimeError(f'OpenCV cannot write {path}')
            for f in frames:
                vw.write(np.ascontiguousarray(f[..., ::-1]))
            vw.release()
        elif kind == 'video_h264':
            import av
            os.makedirs(osp.join(root, 'videos'), exist_ok=True)
            path = osp.join(root, 'videos', vid + '.mp4')
            with av.open(path, 'w') as c:
                st = c.add_stream('libx264', rate=30)
                st.width, st.height, st.pix_fmt = hw[1], hw[0], 'yuv420p'
                for f in frames:
                    for pk in st.encode(av.VideoFrame.from_ndarray(
                            f, format='rgb24')):
                        c.mux(pk)
                for pk in st.encode():
                    c.mux(pk)
        else:
            raise ValueError("kind must be 'jpeg', 'video' or 'video_h264', "
                             f'got {kind!r}')
    open(done, 'w').close()
    return root


def dataset_cfg(root: str, kind: str, clip_len: int, stride: int,
                window_step: int) -> dict:
    return dict(type='VideoTrajectoryDataset', data_root=root,
                data_prefix=dict(img='JPEGImages' if kind == 'jpeg'
                                 else 'videos'),
                pipeline=[dict(type='SampleClip', clip_len=clip_len,
                               frame_stride=stride,
                               window_step=window_step)])


def write_track_cache(dataset, size, grid_size: int, tracker_type: str,
                      seed: int = 0) -> str:
    """A track cache for every window of every video: the query grid drifting
    smoothly (the benchmark times reading and transforming tracks, not their
    quality). Returns the cache dir."""
    from mosic_mm.structures import grid_queries
    from mosic_mm.tracks.cache import (
        cache_path,
        default_cache_dir,
        make_header,
        write_track_file,
    )
    cache_dir = default_cache_dir(dataset.data_root, tracker_type)
    rng = np.random.default_rng(seed)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        n = info['total_frames']
        sampler = dataset.clip_sampler
        stride, starts = sampler.step(n), sampler.starts(n)
        q = grid_queries(size[0], size[1], grid_size, t=0)[:, 1:]
        drift = rng.normal(0, 1, (len(starts), sampler.clip_len, 1, 2))
        tracks = q[None, None] + np.cumsum(drift, axis=1)
        vis = rng.random(tracks.shape[:3]) > 0.1
        vis[:, 0] = True
        header = make_header(info['video_id'], dict(type=tracker_type),
                             grid_size, sampler.clip_len, stride,
                             sampler.frame_stride, sampler.window_step, n,
                             size, starts)
        write_track_file(cache_path(cache_dir, info['video_id']), header,
                         tracks.astype(np.float32), vis)
    return cache_dir


def prepare_data(root: str, kind: str = 'jpeg', num_videos: int = 4,
                 num_frames: int = 96, quality: int = 90, clip_len: int = 12,
                 stride: int = 6, window_step: int = 12, size=(224, 224),
                 grid_size: int = 32, hw=SOURCE_HW,
                 encodings: Sequence[str] = ('raw', 'jpeg')):
    """Generated videos (:func:`make_dataset`), their track cache and frame
    caches (one per encoding, at ``size``), all reused when present.

    Returns:
        ``(dataset, {encoding: frame cache dir})``.
    """
    from mosic_mm.datasets.frame_cache import (
        cache_frame_indices,
        decode_for_cache,
        frame_cache_path,
        write_frame_file,
    )
    from mosic_mm.registry import DATASETS
    root = make_dataset(root, num_videos, num_frames, quality, kind, hw)
    from mosic_mm.utils.config import registry_scope
    with registry_scope():
        ds = DATASETS.build(dataset_cfg(root, kind, clip_len, stride,
                                        window_step))
    size = tuple(size)
    write_track_cache(ds, size, grid_size, 'DISFlowTracker')
    dirs = {}
    for enc in encodings:
        d = osp.join(root, 'frame_cache', f'{size[0]}x{size[1]}_{enc}')
        dirs[enc] = d
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            path = frame_cache_path(d, info['video_id'])
            if osp.isfile(path):
                continue
            inds = cache_frame_indices(info['total_frames'],
                                       ds.clip_sampler)
            imgs, src = decode_for_cache(info, inds, size)
            write_frame_file(path, info['video_id'], imgs, inds,
                             info['total_frames'], src, 'bilinear', enc)
    return ds, dirs
