"""Input-pipeline benchmark: clips/s per worker core of the training data
pipeline on realistic 720p data, per way of loading the frames.

Used by ``tools/benchmark_input.py`` (``tools/benchmark.py --input-only``)
and ``tools/gpu_check.sh``. Everything runs in one process on one thread
(a DataLoader worker's setting), modes interleaved clip by clip so that the
ratios are measured side by side. Times are CPU seconds of the process
(``time.process_time``), the work one core does, unaffected by other load
on a shared machine; the data is in the page cache (no disk waits).
"""
import contextlib
import os
import os.path as osp
import statistics
import time
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

# The modes: how LoadClip gets 224x224 frames (everything after it is the
# same training pipeline: cached tracks, random resized crop, flip,
# SelectTracks, PackTrackInputs, collate).
MODES = {
    'reference': 'PIL full decode + PIL bilinear resize (the official code)',
    'today': 'LoadClip() full decode (OpenCV / decord) + ClipResize',
    'reduced_decord': 'LoadClip(decode_size, video_backend=decord): decord '
                      'at size (video only; the previous reduced mode)',
    'reduced': 'LoadClip(decode_size): DCT-reduced JPEG / PyAV needed '
               'packets only',
    'cache': 'LoadClip(frame_cache=True), raw uint8 frame cache',
    'cache_jpeg': 'LoadClip(frame_cache=True), JPEG q95 frame cache',
}
STAGES = ('decode', 'resize', 'crop', 'tracks', 'collate')
# Per-core cost is CPU time of this (single-threaded) process: on a shared
# machine wall time also counts the time other processes held the core.
_cpu_clock = time.process_time
SOURCE_HW = (720, 1280)


# ----------------------------------------------------------- the data set
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
                clip_len=clip_len, frame_stride=stride,
                window_step=window_step)


def write_track_cache(dataset, size, grid_size: int, tracker_type: str,
                      seed: int = 0) -> str:
    """A track cache for every window of every video: the query grid drifting
    smoothly (the benchmark times reading and transforming tracks, not their
    quality). Returns the cache dir."""
    from mosic_mm.datasets.track_cache import (cache_path, default_cache_dir,
                                               make_header, write_track_file)
    from mosic_mm.datasets.video_trajectory_dataset import (clip_starts,
                                                            effective_stride)
    from mosic_mm.trackers import grid_queries
    cache_dir = default_cache_dir(dataset.data_root, tracker_type)
    rng = np.random.default_rng(seed)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        n = info['total_frames']
        stride = effective_stride(n, dataset.clip_len, dataset.frame_stride)
        starts = clip_starts(n, dataset.clip_len, dataset.frame_stride,
                             dataset.window_step)
        q = grid_queries(size[0], size[1], grid_size, t=0)[:, 1:]
        drift = rng.normal(0, 1, (len(starts), dataset.clip_len, 1, 2))
        tracks = q[None, None] + np.cumsum(drift, axis=1)
        vis = rng.random(tracks.shape[:3]) > 0.1
        vis[:, 0] = True
        header = make_header(info['video_id'], dict(type=tracker_type),
                             grid_size, dataset.clip_len, stride,
                             dataset.frame_stride, dataset.window_step, n,
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
    from mosic_mm.datasets.frame_cache import (cache_frame_indices,
                                               decode_for_cache,
                                               frame_cache_path,
                                               write_frame_file)
    from mosic_mm.registry import DATASETS
    root = make_dataset(root, num_videos, num_frames, quality, kind, hw)
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
            inds = cache_frame_indices(info['total_frames'], ds.clip_len,
                                       ds.frame_stride, ds.window_step)
            imgs, src = decode_for_cache(info, inds, size)
            write_frame_file(path, info['video_id'], imgs, inds,
                             info['total_frames'], src, 'bilinear', enc)
    return ds, dirs


def pipeline_cfg(mode: str, size, grid_size: int, num_points: int,
                 tracker_type: str = 'DISFlowTracker',
                 frame_cache_dir: Optional[str] = None) -> List[dict]:
    """The config of ``mode``'s pipeline (every mode of :data:`MODES`
    but 'reference'), for a dataset / DataLoader."""
    load = dict(type='LoadClip')
    if mode in ('reduced', 'reduced_decord', 'cache', 'cache_jpeg'):
        load['decode_size'] = tuple(size)
    if mode in ('today', 'reduced_decord'):
        load['video_backend'] = 'decord'  # what LoadClip did before PyAV
    if mode in ('cache', 'cache_jpeg'):
        load.update(frame_cache=True, frame_cache_dir=frame_cache_dir)
    if mode not in ('today', 'reduced', 'reduced_decord', 'cache',
                    'cache_jpeg'):
        raise ValueError(f'no pipeline config for mode {mode!r}')
    return [
        load,
        dict(type='ClipResize', scale=(size[1], size[0])),
        dict(type='LoadTracks', tracker=dict(type=tracker_type),
             grid_size=grid_size),
        dict(type='ClipRandomResizedCrop', size=(size[1], size[0]),
             scale=(0.4, 1.0), ratio=(3 / 4, 4 / 3)),
        dict(type='ClipFlip', prob=0.5),
        dict(type='SelectTracks', num_tracks=num_points),
        dict(type='PackTrackInputs'),
    ]


# ------------------------------------------------------------- pipelines
class PILLoadResize:
    """The reference's frame loading: ``PIL.Image.open(...).convert('RGB')``
    per frame, then torchvision-style ``resize`` (PIL bilinear) of the full
    frame. Frame folders only."""

    def __init__(self, size):
        self.size = tuple(size)

    def __call__(self, results: dict) -> dict:
        from PIL import Image
        paths = results['frame_paths']
        frames = []
        for i in results['frame_inds']:
            with Image.open(paths[int(i)]) as im:
                frames.append(np.asarray(im.convert('RGB').resize(
                    (self.size[1], self.size[0]), Image.BILINEAR)))
        imgs = np.stack(frames)
        results.update(imgs=imgs, img_shape=imgs.shape[1:3],
                       ori_shape=imgs.shape[1:3])
        return results


def build_pipeline(mode: str, size, grid_size: int, num_points: int,
                   tracker_type: str, frame_cache_dir: Optional[str] = None
                   ) -> List:
    """The transforms of ``mode`` (see :data:`MODES`) as built objects."""
    from mosic_mm.registry import TRANSFORMS
    if mode not in MODES:
        raise ValueError(f'mode must be one of {tuple(MODES)}, got {mode!r}')
    cfgs = pipeline_cfg('today' if mode == 'reference' else mode, size,
                        grid_size, num_points, tracker_type, frame_cache_dir)
    steps = [TRANSFORMS.build(c) for c in cfgs]
    if mode == 'reference':
        steps[0] = PILLoadResize(size)
    return steps


class _StageClock:
    """Accumulates seconds per stage; wraps the resize and track-mapping
    functions so that their time is split out of the step that calls them."""

    def __init__(self):
        self.t: Dict[str, float] = {}
        self._inner = 0.0

    def add(self, key, dt):
        self.t[key] = self.t.get(key, 0.0) + dt

    def wrap(self, fn, key):
        def timed(*a, **k):
            start = _cpu_clock()
            try:
                return fn(*a, **k)
            finally:
                dt = _cpu_clock() - start
                self.add(key, dt)
                self._inner += dt
        return timed

    @contextlib.contextmanager
    def step(self, key):
        """Time a pipeline step; time spent in wrapped functions inside it
        goes to their own keys."""
        inner0 = self._inner
        start = _cpu_clock()
        yield
        self.add(key, _cpu_clock() - start - (self._inner - inner0))


@contextlib.contextmanager
def _instrumented(clock: _StageClock):
    """Route resize / track-mapping time to their stages while active."""
    from mosic_mm.datasets import video_io
    from mosic_mm.datasets.transforms import geometry, loading
    patches = [(video_io, 'resize_frames', 'resize'),
               (loading, 'resize_frames', 'resize'),
               (geometry, 'resize_frames', 'resize_crop'),
               (geometry, 'crop_resize_tracks', 'tracks'),
               (geometry, 'points_inside', 'tracks'),
               (geometry, 'flip_tracks', 'tracks')]
    saved = [(m, name, getattr(m, name)) for m, name, _ in patches]
    try:
        for m, name, key in patches:
            setattr(m, name, clock.wrap(getattr(m, name), key))
        yield
    finally:
        for m, name, fn in saved:
            setattr(m, name, fn)


_STEP_STAGE = {
    'PILLoadResize': 'decode', 'LoadClip': 'decode', 'ClipResize': 'resize',
    'LoadTracks': 'tracks', 'ClipRandomResizedCrop': 'crop',
    'ClipFlip': 'crop', 'SelectTracks': 'tracks',
    'PackTrackInputs': 'collate'
}


def run_modes(dataset, modes: Sequence[str], pipelines: Dict[str, list],
              num_clips: int, batch: int = 8, seed: int = 0) -> dict:
    """Time ``num_clips`` clips per mode, interleaved clip by clip, on this
    thread. Every mode sees the same clip (same video, start, crop, flip).

    Returns:
        ``{mode: dict(clip_s=[...], stages_s={stage: median s per clip},
        clips_per_s_per_core=...)}``.
    """
    from mmengine.dataset import default_collate

    from mosic_mm.datasets.video_trajectory_dataset import \
        sample_clip_indices
    rng = np.random.RandomState(seed)
    videos = rng.randint(0, len(dataset), num_clips + 1)
    per_mode = {m: dict(clip_s=[], stages=[], packed=[]) for m in modes}
    collate_s = {m: [] for m in modes}
    for c, v in enumerate(videos):
        info = dataset.get_data_info(int(v))
        state = np.random.RandomState(seed * 100003 + c)
        info['frame_inds'] = sample_clip_indices(
            info['total_frames'], dataset.clip_len, dataset.frame_stride,
            rng=state, window_step=dataset.window_step)
        info['data_root'] = dataset.data_root
        for m in modes:
            np.random.seed(seed * 7919 + c)  # same crop / flip per mode
            clock = _StageClock()
            results = dict(info)
            start = _cpu_clock()
            with _instrumented(clock):
                for t in pipelines[m]:
                    stage = _STEP_STAGE.get(type(t).__name__, 'collate')
                    with clock.step(stage):
                        results = t(results)
                    # resizing inside the crop counts as crop, else resize
                    dt = clock.t.pop('resize_crop', None)
                    if dt is not None:
                        clock.add('crop' if stage == 'crop' else 'resize', dt)
            total = _cpu_clock() - start
            if c == 0:
                continue  # warm-up clip
            per_mode[m]['clip_s'].append(total)
            per_mode[m]['stages'].append(clock.t)
            per_mode[m]['packed'].append(results)
            if len(per_mode[m]['packed']) == batch:
                start = _cpu_clock()
                default_collate(per_mode[m]['packed'])
                collate_s[m].append((_cpu_clock() - start) / batch)
                per_mode[m]['packed'] = []
    out = {}
    for m in modes:
        stages = {s: statistics.median(t.get(s, 0.0)
                                       for t in per_mode[m]['stages'])
                  for s in STAGES}
        col = statistics.median(collate_s[m]) if collate_s[m] else 0.0
        stages['collate'] += col
        median = statistics.median(per_mode[m]['clip_s']) + col
        out[m] = dict(clip_s=median, stages_s=stages,
                      clips_per_s_per_core=1.0 / median,
                      num_clips=len(per_mode[m]['clip_s']))
    return out


# ------------------------------------------------------ video profile
def profile_video_decode(path: str, inds: Sequence[int], size,
                         repeats: int = 5) -> Dict[str, float]:
    """Where the time of reading frames ``inds`` of a video goes, median
    CPU ms over ``repeats`` on this thread (PyAV, one decoder thread).

    Keys: ``open_demux`` (open the file, demux and index every packet),
    ``decode_range`` (decode every packet from the key frame before the
    first wanted frame to the last one, the least a sequential reader
    does), ``decode_needed`` (decode only the packets the wanted frames
    depend on, :func:`~mosic_mm.datasets.video_io._frames_to_decode`,
    unwanted non-reference frames skipped), ``to_rgb`` (YUV -> RGB of the
    wanted frames at full size), ``resize`` (antialiased resize of those
    to ``size``), ``num_range`` / ``num_needed`` (packets decoded) and
    ``total`` (``read_video(..., size, backend='pyav')``).
    """
    import av

    from mosic_mm.datasets.resize import resize_frames
    from mosic_mm.datasets.video_io import (_PROBE_OPTIONS, _frames_to_decode,
                                            _pyav_index, read_video)
    inds = np.asarray(inds, np.int64)

    def index():  # what read_video does before decoding
        with av.open(path, options=_PROBE_OPTIONS) as c:
            _, pk, frame_of, _, key = _pyav_index(c, path)
        return pk, frame_of, key

    pk, frame_of, key = index()
    needed = _frames_to_decode(key, frame_of, inds)
    pos = np.flatnonzero(np.isin(frame_of, inds))
    keypos = np.flatnonzero(key)
    k0 = keypos[np.searchsorted(keypos, needed[0], side='right') - 1] \
        if keypos.size else 0
    full_range = np.arange(min(k0, needed[0]), pos.max() + 1)
    wanted = set(inds.tolist())

    def decode(positions, skip):
        with av.open(path, options=_PROBE_OPTIONS) as c:
            st = c.streams.video[0]
            st.thread_type, st.thread_count = 'SLICE', 1
            ctx, frames = st.codec_context, []
            for j in positions:
                if skip:
                    ctx.skip_frame = ('DEFAULT' if frame_of[j] in wanted
                                      else 'NONREF')
                frames += ctx.decode(pk[j])
            frames += ctx.decode(None)
        return frames

    frames = decode(needed, True)
    def to_rgb():
        return [f.reformat(format='rgb24', interpolation='POINT').to_ndarray()
                for f in frames[:len(inds)]]

    rgb = np.stack(to_rgb())
    steps = {
        'open_demux': index,
        'decode_range': lambda: decode(full_range, False),
        'decode_needed': lambda: decode(needed, True),
        'to_rgb': to_rgb,
        'resize': lambda: resize_frames(rgb, tuple(size), 'bilinear'),
        'total': lambda: read_video(path, inds, tuple(size), 'bilinear',
                                    'pyav'),
    }
    out = {}
    for name, fn in steps.items():
        fn()
        ts = []
        for _ in range(repeats):
            start = _cpu_clock()
            fn()
            ts.append(_cpu_clock() - start)
        out[name] = 1e3 * statistics.median(ts)
    out.update(num_range=len(full_range), num_needed=len(needed))
    return out


# Decoder settings that remove work at the cost of pixels, measured against
# the exact reader by :func:`profile_decoder_settings`: name -> (FFmpeg
# codec options, RGB conversion). 'exact' is what ``read_video`` does.
DECODER_SETTINGS = {
    'exact': ({}, 'exact'),
    # in-loop deblocking skipped on non-reference frames: exact for every
    # frame another one references (H.264; no-op for MPEG-4 part 2, which
    # has no in-loop filter)
    'skip_loop_filter=noref': ({'skip_loop_filter': 'noref'}, 'exact'),
    # ... on B-frames (the errors of reference B-frames reach a few others)
    'skip_loop_filter=bidir': ({'skip_loop_filter': 'bidir'}, 'exact'),
    # ... on every frame: the error propagates through the references
    'skip_loop_filter=all': ({'skip_loop_filter': 'all'}, 'exact'),
    # FFmpeg's "allow non spec compliant speedup tricks"
    'flags2=fast': ({'flags2': '+fast'}, 'exact'),
    # decode at half size (MPEG-4 part 2; H.264 has no reduced decoding)
    'lowres=1': ({'lowres': '1'}, 'exact'),
    # YUV -> RGB and the downscale in one swscale call (its bilinear
    # filter widened to the scale factor), no separate resize
    'swscale_fused': ({}, 'BILINEAR'),
    'swscale_fused_area': ({}, 'AREA'),
}


def _read_with_settings(path: str, inds: np.ndarray, size, options: dict,
                        rgb: str) -> np.ndarray:
    """``read_video(path, inds, size, backend='pyav')`` with FFmpeg codec
    ``options`` set before the decoder opens and, for ``rgb`` a swscale
    interpolation ('BILINEAR', 'AREA'), conversion and downscale in one
    ``VideoFrame.reformat``. Same packets, same skipping of unwanted
    non-reference frames."""
    import av

    from mosic_mm.datasets.resize import resize_frames
    from mosic_mm.datasets.video_io import (_PROBE_OPTIONS, _decode_needed,
                                            _pyav_index)
    wanted, out = set(inds.tolist()), {}
    with av.open(path, options=_PROBE_OPTIONS) as c:
        st, pk, frame_of, pts_to_frame, key = _pyav_index(c, path)
        ctx = st.codec_context
        if options:
            ctx.options = dict(options)  # applied when the decoder opens

        def take(frames):
            for fr in frames:
                i = pts_to_frame.get(fr.pts)
                if i not in wanted or i in out:
                    continue
                if rgb != 'exact':
                    out[i] = fr.reformat(size[1], size[0], format='rgb24',
                                         interpolation=rgb).to_ndarray()
                else:
                    out[i] = fr.reformat(format='rgb24',
                                         interpolation='POINT').to_ndarray()

        _decode_needed(ctx, pk, key, frame_of, inds, take,
                       lambda: len(out) == len(wanted))
        if rgb == 'exact':  # one batched resize, as read_video
            keys = list(out)
            imgs = resize_frames(np.stack([out[i] for i in keys]),
                                 tuple(size), 'bilinear')
            out.update(zip(keys, imgs))
    return np.stack([out[int(i)] for i in inds])


def profile_decoder_settings(path: str, clips: Sequence[Sequence[int]],
                             size, settings: Optional[Sequence[str]] = None,
                             repeats: int = 3) -> Dict[str, dict]:
    """CPU time and pixel error of reading ``clips`` of a video with each of
    ``settings`` (names of :data:`DECODER_SETTINGS`, default all) against
    the exact reader, settings interleaved per repeat on this thread.

    Returns:
        ``{setting: dict(ms=median CPU ms per clip, x_exact=exact ms / ms,
        mae=mean |difference| at ``size`` over all frames (grey levels),
        frame_mae=worst frame's MAE, max=largest difference)}``. A setting
        that does nothing for the codec shows MAE 0 and ``x_exact`` ~1.
    """
    names = list(DECODER_SETTINGS) if settings is None else list(settings)
    if 'exact' not in names:
        names.insert(0, 'exact')
    unknown = set(names) - set(DECODER_SETTINGS)
    if unknown:
        raise ValueError(f'unknown decoder settings {sorted(unknown)}; '
                         f'choose from {tuple(DECODER_SETTINGS)}')
    times = {n: [] for n in names}
    err = {n: [] for n in names}
    for inds in clips:
        inds = np.asarray(inds, np.int64)
        imgs = {}
        for r in range(repeats + 1):  # the first pass warms up
            for n in names:
                opts, rgb = DECODER_SETTINGS[n]
                start = _cpu_clock()
                imgs[n] = _read_with_settings(path, inds, size, opts, rgb)
                if r:
                    times[n].append(_cpu_clock() - start)
        for n in names:
            err[n].append(np.abs(imgs[n].astype(np.int16)
                                 - imgs['exact'].astype(np.int16)))
    ms = {n: 1e3 * statistics.median(times[n]) for n in names}
    out = {}
    for n in names:
        d = np.concatenate(err[n])
        out[n] = dict(ms=ms[n], x_exact=ms['exact'] / ms[n],
                      mae=float(d.mean()),
                      frame_mae=float(d.reshape(len(d), -1).mean(1).max()),
                      max=int(d.max()))
    return out


# ---------------------------------------------------------- GPU demand
H100_BF16_DENSE_TFLOPS = 989.0  # NVIDIA H100 SXM, dense bf16 tensor cores


def cores_needed(clips_per_s_per_core: float, batch: int,
                 gpu_step_s: float) -> float:
    """CPU cores that keep a GPU fed: ``batch / gpu_step_s`` clips/s over
    one core's rate."""
    return batch / gpu_step_s / clips_per_s_per_core


def data_wait_fraction(clips_per_s_per_core: float, cores: int, batch: int,
                       gpu_step_s: float) -> float:
    """Steady-state share of a step spent waiting for data with ``cores``
    loader workers prefetching: ``max(0, load - step) / max(load, step)``
    where ``load = batch / (cores * rate)``."""
    load = batch / (cores * clips_per_s_per_core)
    return max(0.0, load - gpu_step_s) / max(load, gpu_step_s)


def count_step_flops(config: str, batch: int, frames: int, points: int,
                     size: int, arch_overrides: Optional[dict] = None,
                     device: str = 'cpu') -> float:
    """FLOPs of one training step (loss forward + backward) of ``config``'s
    model at the given shape, counted by ``torch.utils.flop_counter`` on
    random weights and inputs (batch 1, scaled by ``batch``: every FLOP of
    the step is per clip except the prototype and Sinkhorn work, counted at
    batch 1)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.structures import DataSample
    from torch.utils.flop_counter import FlopCounterMode

    import mosic_mm  # noqa: F401
    from mosic_mm.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.init_cfg = None
    if arch_overrides:
        cfg.model.backbone.update(arch_overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    clip = torch.randint(0, 255, (frames, 3, size, size), dtype=torch.uint8)
    s = DataSample()
    xy = torch.rand(frames, points, 2) * (size - 1)
    s.set_field(xy, 'tracks')
    s.set_field(torch.ones(frames, points, dtype=torch.bool), 'visibility')
    data = model.data_preprocessor(dict(inputs=[clip], data_samples=[s]),
                                   True)
    counter = FlopCounterMode(display=False)
    with counter:
        loss = model.loss(**data)['loss']
        loss.backward()
    return counter.get_total_flops() * batch
