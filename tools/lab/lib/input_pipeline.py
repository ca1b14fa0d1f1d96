"""Input-pipeline benchmark: clips/s per worker core of the training data
pipeline on realistic 720p data (:mod:`.input_data`), per way of loading the
frames (:data:`MODES`).

Used by ``tools/lab/benchmark_input.py``
and ``tools/lab/gpu_check.py``.
Everything runs in one process on one thread (a DataLoader worker's
setting), modes interleaved clip by clip so that the ratios are measured
side by side. Times are CPU seconds of the process (``time.process_time``),
the work one core does, unaffected by other load on a shared machine; the
data is in the page cache (no disk waits).
"""
import contextlib
import statistics
import time
from typing import Dict, List, Optional, Sequence

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
cpu_clock = time.process_time


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
            start = cpu_clock()
            try:
                return fn(*a, **k)
            finally:
                dt = cpu_clock() - start
                self.add(key, dt)
                self._inner += dt
        return timed

    @contextlib.contextmanager
    def step(self, key):
        """Time a pipeline step; time spent in wrapped functions inside it
        goes to their own keys."""
        inner0 = self._inner
        start = cpu_clock()
        yield
        self.add(key, cpu_clock() - start - (self._inner - inner0))


@contextlib.contextmanager
def _instrumented(clock: _StageClock):
    """Route resize / track-mapping time to their stages while active."""
    from mosic_mm.datasets.sources import video_io
    from mosic_mm.datasets.transforms import geometry, loading
    patches = [(video_io, 'resize_frames', 'resize'),
               (loading, 'resize_frames', 'resize'),
               (geometry, 'resize_frames', 'resize_crop'),
               (geometry, 'crop_resize_points', 'tracks'),
               (geometry, 'points_inside', 'tracks'),
               (geometry, 'flip_points', 'tracks')]
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

    rng = np.random.RandomState(seed)
    videos = rng.randint(0, len(dataset), num_clips + 1)
    per_mode = {m: dict(clip_s=[], stages=[], packed=[]) for m in modes}
    collate_s = {m: [] for m in modes}
    for c, v in enumerate(videos):
        info = dataset.get_data_info(int(v))
        state = np.random.RandomState(seed * 100003 + c)
        info['frame_inds'] = dataset.clip_sampler.sample(
            info['total_frames'], state)
        info['data_root'] = dataset.data_root
        for m in modes:
            np.random.seed(seed * 7919 + c)  # same crop / flip per mode
            clock = _StageClock()
            results = dict(info)
            start = cpu_clock()
            with _instrumented(clock):
                for t in pipelines[m]:
                    stage = _STEP_STAGE.get(type(t).__name__, 'collate')
                    with clock.step(stage):
                        results = t(results)
                    # resizing inside the crop counts as crop, else resize
                    dt = clock.t.pop('resize_crop', None)
                    if dt is not None:
                        clock.add('crop' if stage == 'crop' else 'resize', dt)
            total = cpu_clock() - start
            if c == 0:
                continue  # warm-up clip
            per_mode[m]['clip_s'].append(total)
            per_mode[m]['stages'].append(clock.t)
            per_mode[m]['packed'].append(results)
            if len(per_mode[m]['packed']) == batch:
                start = cpu_clock()
                default_collate(per_mode[m]['packed'])
                collate_s[m].append((cpu_clock() - start) / batch)
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
