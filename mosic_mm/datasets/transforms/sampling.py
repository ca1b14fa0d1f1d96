"""Which frames a clip holds: the ``SampleClip`` step (as mmaction2's
``SampleFrames``) and its maths, shared by training (the step picks one
clip per call) and the caches (track and frame extraction fill every window
the step can pick)."""
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mosic_mm.registry import TRANSFORMS

__all__ = ['effective_stride', 'clip_starts', 'START_RULES', 'SampleClip',
           'pipeline_clip_sampler']

#: the last start a clip may have (:func:`clip_starts`)
START_RULES = ('span_fits', 'frames_fit')


def effective_stride(total_frames: int, clip_len: int, stride: int) -> int:
    """The step between clip frames: ``stride``, or ``max(1, total_frames //
    clip_len)`` if the video is shorter than ``clip_len * stride`` frames
    (the recipe's rule)."""
    if clip_len < 1 or stride < 1:
        raise ValueError(f'clip_len and stride must be >= 1, got {clip_len} '
                         f'and {stride}')
    if total_frames < clip_len:
        raise ValueError(f'cannot sample {clip_len} frames from a video of '
                         f'{total_frames} frames')
    if total_frames < clip_len * stride:
        stride = max(1, total_frames // clip_len)
    return int(stride)


def clip_starts(total_frames: int, clip_len: int, stride: int,
                window_step: Optional[int] = None,
                start_rule: str = 'span_fits') -> np.ndarray:
    """Every start frame a clip may have.

    Args:
        total_frames: frames in the video (>= clip_len).
        clip_len: frames per clip (T).
        stride: preferred step (see :func:`effective_stride`, ``step``).
        window_step: None -> every start ``0 .. max_start``; an int k -> the
            multiples of k up to ``max_start`` (the windows of a track
            cache).
        start_rule: the last start ``max_start``. 'span_fits' (the official
            sampler, ``randint(0, total - T * step)``): the clip's span of
            ``T * step`` frames fits, ``max_start = total - T * step``;
            'frames_fit': its frames fit, ``max_start = total - 1 - (T - 1)
            * step`` (``step - 1`` more starts).

    Returns:
        int64 ``[S]``, increasing, ``S >= 1`` (always contains 0).
    """
    if window_step is not None and (int(window_step) != window_step
                                    or window_step < 1):
        raise ValueError('window_step must be None or a positive int, got '
                         f'{window_step!r}')
    step = effective_stride(total_frames, clip_len, stride)
    max_start = total_frames - clip_len * step
    if start_rule == 'frames_fit':
        max_start += step - 1
    elif start_rule != 'span_fits':
        raise ValueError(f'start_rule must be one of {START_RULES}, got '
                         f'{start_rule!r}')
    return np.arange(0, max_start + 1, 1 if window_step is None else
                     int(window_step), dtype=np.int64)


@TRANSFORMS.register_module()
class SampleClip(BaseTransform):
    """Pick the frames of one clip: ``clip_len`` frames ``step`` apart
    (:func:`effective_stride`) from a start drawn uniformly from
    :func:`clip_starts` (``np.random``, seeded per worker by mmengine), or
    from the first start with ``random_start=False``.

    Required keys: ``total_frames``. Added key: ``frame_inds`` int64
    ``[clip_len]``, increasing, within ``[0, total_frames)``.

    The first step of a video pipeline; the caches
    (``tools/extract_tracks.py``, ``tools/extract_frames.py``) hold exactly
    the windows :meth:`starts` lists, so ``LoadTracks`` finds the clip the
    step picked.

    Args:
        clip_len (int): frames per clip (T). Videos with fewer frames are
            left out of the dataset (it reads this step's ``clip_len``).
        frame_stride (int): preferred step between the clip's frames.
        window_step (int, optional): starts are the multiples of it (the
            cached windows); None allows every start.
        start_rule (str): the last start, see :func:`clip_starts`.
        random_start (bool): draw the start (training) or take 0.
    """

    def __init__(self, clip_len: int = 12, frame_stride: int = 6,
                 window_step: Optional[int] = None,
                 start_rule: str = 'span_fits',
                 random_start: bool = True):
        for name, value in (('clip_len', clip_len),
                            ('frame_stride', frame_stride)):
            if int(value) != value or value < 1:
                raise ValueError(f'SampleClip: {name} must be a positive '
                                 f'int, got {value!r}')
        if window_step is not None and (int(window_step) != window_step
                                        or window_step < 1):
            raise ValueError('SampleClip: window_step must be None or a '
                             f'positive int, got {window_step!r}')
        if start_rule not in START_RULES:
            raise ValueError(f'SampleClip: start_rule must be one of '
                             f'{START_RULES}, got {start_rule!r}')
        self.clip_len = int(clip_len)
        self.frame_stride = int(frame_stride)
        self.window_step = None if window_step is None else int(window_step)
        self.start_rule = start_rule
        self.random_start = bool(random_start)

    def step(self, total_frames: int) -> int:
        """The step between the clip's frames in a video of that length."""
        return effective_stride(total_frames, self.clip_len,
                                self.frame_stride)

    def starts(self, total_frames: int) -> np.ndarray:
        """Every start this step may pick (int64 ``[S]``)."""
        return clip_starts(total_frames, self.clip_len, self.frame_stride,
                           self.window_step, self.start_rule)

    def frame_indices(self, total_frames: int, start: int) -> np.ndarray:
        """int64 ``[clip_len]``: the clip starting at ``start``."""
        return start + self.step(total_frames) * np.arange(self.clip_len,
                                                            dtype=np.int64)

    def sample(self, total_frames: int, rng=None) -> np.ndarray:
        """The frames of one clip of a video of that length: a start drawn
        from :meth:`starts` by ``rng`` (``np.random`` by default, a
        ``RandomState`` or a ``Generator``), 0 without ``random_start``."""
        starts = self.starts(total_frames)
        start = 0
        if self.random_start and starts.size > 1:
            rng = np.random if rng is None else rng
            draw = getattr(rng, 'integers', None) or rng.randint
            start = int(starts[int(draw(0, starts.size))])
        return self.frame_indices(total_frames, start)

    def transform(self, results: dict) -> dict:
        if 'total_frames' not in results:
            raise KeyError('SampleClip needs results["total_frames"] (set by '
                           'VideoTrajectoryDataset)')
        results['frame_inds'] = self.sample(int(results['total_frames']))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(clip_len={self.clip_len}, '
                f'frame_stride={self.frame_stride}, '
                f'window_step={self.window_step}, '
                f'start_rule={self.start_rule!r}, '
                f'random_start={self.random_start})')


def pipeline_clip_sampler(pipeline: Sequence[dict], where: str = 'the '
                          'pipeline') -> SampleClip:
    """The :class:`SampleClip` built from the first ``SampleClip`` step of a
    pipeline config (what the caches fill); an error naming ``where`` if it
    has none."""
    for step in pipeline:
        kind = step.get('type') if hasattr(step, 'get') else None
        if kind in ('SampleClip', SampleClip) or (
                isinstance(kind, str) and kind.split('.')[-1] ==
                'SampleClip'):
            args = {k: v for k, v in dict(step).items() if k != 'type'}
            return SampleClip(**args)
    raise ValueError(f'{where} has no SampleClip step: put '
                     "dict(type='SampleClip', clip_len=..., frame_stride=..., "
                     'window_step=...) first')
