"""Which frames a clip holds: clip_starts, effective_stride and the
SampleClip step (the first step of every video pipeline), which draws as
the dataset's sampler did before it became a pipeline step."""
import numpy as np
import pytest

from mosic_mm.datasets.transforms.sampling import (
    SampleClip,
    clip_starts,
    effective_stride,
    pipeline_clip_sampler,
)


def recipe_sampler(total, clip_len, stride, rng, random_start=True,
                   window_step=None, start_rule='span_fits'):
    """The clip sampler as the dataset had it, written out: the step
    ``stride``, or ``max(1, total // T)`` for a short video; the last start
    ``total - T * step`` ('span_fits', the official ``randint(0, size - T *
    step)``) or ``step - 1`` more ('frames_fit'); starts every frame or
    every ``window_step``; one ``randint`` over them (start 0 without
    ``random_start``)."""
    step = stride if total >= clip_len * stride else max(1, total //
                                                            clip_len)
    last = total - clip_len * step + (step - 1 if start_rule == 'frames_fit'
                                      else 0)
    starts = list(range(0, last + 1, window_step or 1))
    start = 0
    if random_start and len(starts) > 1:
        draw = getattr(rng, 'integers', None) or rng.randint
        start = starts[int(draw(0, len(starts)))]
    return start + step * np.arange(clip_len)


CASES = [  # total, clip_len, stride, window_step, start_rule
    (100, 12, 6, None, 'span_fits'), (80, 12, 6, None, 'frames_fit'),
    (30, 12, 6, None, 'span_fits'), (12, 12, 6, None, 'span_fits'),
    (24, 6, 3, 2, 'frames_fit'), (24, 6, 3, 5, 'span_fits'),
    (250, 12, 6, 24, 'span_fits'), (20, 6, 6, 2, 'frames_fit'),
    (7, 3, 2, None, 'frames_fit')]


@pytest.mark.parametrize('total,clip_len,stride,window_step,rule', CASES)
def test_draws_equal_the_recipe_sampler_from_the_same_state(
        total, clip_len, stride, window_step, rule):
    """Seeded alike, SampleClip picks the clips the dataset's sampler
    picked: from np.random's global state (``transform``, what the
    pipeline calls, and ``sample``), from a RandomState and from a
    Generator; with random_start=False the first clip."""
    step = SampleClip(clip_len, stride, window_step, rule)
    for seed in range(25):
        np.random.seed(seed)
        want = recipe_sampler(total, clip_len, stride, np.random,
                              window_step=window_step, start_rule=rule)
        np.random.seed(seed)
        got = step.transform(dict(total_frames=total))['frame_inds']
        assert got.dtype == np.int64 and got.shape == (clip_len, )
        np.testing.assert_array_equal(got, want)
        np.random.seed(seed)
        np.testing.assert_array_equal(step.sample(total), want)
        for make in (np.random.RandomState, np.random.default_rng):
            want = recipe_sampler(total, clip_len, stride, make(seed),
                                  window_step=window_step, start_rule=rule)
            np.testing.assert_array_equal(step.sample(total, make(seed)),
                                          want)
    fixed = SampleClip(clip_len, stride, window_step, rule,
                       random_start=False)
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(
        fixed.transform(dict(total_frames=total))['frame_inds'],
        recipe_sampler(total, clip_len, stride, None, random_start=False,
                       window_step=window_step, start_rule=rule))
    # without a random start nothing is drawn from the global state
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_strides_starts_and_their_distribution():
    rng = np.random.RandomState(0)
    inds = SampleClip(12, 6).sample(100, rng)
    assert inds.dtype == np.int64 and inds.shape == (12, )
    assert (np.diff(inds) == 6).all() and inds[0] >= 0 and inds[-1] < 100
    # shorter than clip_len*stride: stride -> 30 // 12 = 2
    for _ in range(20):
        inds = SampleClip(12, 6).sample(30, rng)
        assert (np.diff(inds) == 2).all() and 0 <= inds[0] and inds[-1] < 30
    np.testing.assert_array_equal(SampleClip(12, 6).sample(12, rng),
                                  np.arange(12))
    # random start: the whole range, the last one 80 - 12 * 6 (the official
    # sampler's bound); 'frames_fit': every start whose frames fit
    starts = {int(SampleClip(12, 6).sample(80, rng)[0]) for _ in range(200)}
    assert starts == set(range(0, 80 - 72 + 1))
    starts = {int(SampleClip(12, 6, start_rule='frames_fit').sample(
        80, rng)[0]) for _ in range(300)}
    assert starts == set(range(0, 80 - 66))
    # about uniform over the starts
    counts = np.bincount([int(SampleClip(12, 6).sample(80, rng)[0])
                          for _ in range(1800)], minlength=9)
    assert counts.size == 9 and counts.min() > 140 and counts.max() < 260
    gen = np.random.default_rng(0)
    assert len({int(SampleClip(4, 2).sample(80, gen)[0])
                for _ in range(50)}) > 5
    # the first clip without a random start
    np.testing.assert_array_equal(
        SampleClip(12, 6, random_start=False).sample(100, rng),
        np.arange(0, 72, 6))
    with pytest.raises(ValueError, match='11 frames'):
        SampleClip(12, 6).sample(11, rng)


def test_starts_are_the_window_multiples():
    # 24 frames, T=6, stride 3: max start 24 - 18 = 6 (the official
    # bound), 24 - 1 - 15 = 8 with start_rule='frames_fit'
    assert clip_starts(24, 6, 3).tolist() == list(range(7))
    assert clip_starts(24, 6, 3, start_rule='frames_fit').tolist() == list(
        range(9))
    assert clip_starts(24, 6, 3, window_step=2).tolist() == [0, 2, 4, 6]
    assert clip_starts(24, 6, 3, window_step=5).tolist() == [0, 5]
    assert clip_starts(24, 6, 3, window_step=100).tolist() == [0]
    # short video: stride 6 -> 20 // 6 = 3, max start 20 - 18 = 2 (fit: 4)
    assert clip_starts(20, 6, 6, window_step=2).tolist() == [0, 2]
    assert clip_starts(20, 6, 6, 2, 'frames_fit').tolist() == [0, 2, 4]
    assert clip_starts(24, 6, 3).dtype == np.int64
    rng = np.random.RandomState(0)
    step = SampleClip(6, 3, window_step=2, start_rule='frames_fit')
    assert step.starts(24).tolist() == [0, 2, 4, 6, 8]
    assert {int(step.sample(24, rng)[0]) for _ in range(200)} == {
        0, 2, 4, 6, 8}
    assert SampleClip(6, 3, window_step=2, random_start=False).sample(
        24, rng)[0] == 0
    # step, starts and frame indices of one video agree
    assert step.step(24) == 3 and step.step(10) == 1
    np.testing.assert_array_equal(step.frame_indices(24, 4),
                                  4 + 3 * np.arange(6))
    assert effective_stride(30, 12, 6) == 2 == SampleClip(12, 6).step(30)


@pytest.mark.parametrize('kwargs,match', [
    (dict(clip_len=0), 'clip_len'), (dict(clip_len=2.5), 'clip_len'),
    (dict(frame_stride=0), 'frame_stride'),
    (dict(window_step=0), 'window_step'),
    (dict(window_step=-2), 'window_step'),
    (dict(window_step=1.5), 'window_step'),
    # the old names of the start rules name the new ones
    (dict(start_rule='reference'), "'span_fits', 'frames_fit'"),
    (dict(start_rule='fit'), 'start_rule')])
def test_bad_arguments_are_errors_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SampleClip(**kwargs)


@pytest.mark.parametrize('args,match', [
    ((24, 6, 3, 0), 'window_step'), ((24, 6, 3, -2), 'window_step'),
    ((24, 6, 3, 1.5), 'window_step'), ((24, 6, 3, None, 'any'),
                                       'start_rule'),
    ((24, 0, 3), 'clip_len'), ((5, 6, 1), '5 frames')])
def test_clip_starts_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        clip_starts(*args)


def test_transform_needs_the_frame_count():
    with pytest.raises(KeyError, match='total_frames'):
        SampleClip().transform(dict(video_id='v'))


def test_a_pipeline_config_gives_its_first_sample_clip():
    from mosic_mm.registry import TRANSFORMS
    pipeline = [dict(type='SampleClip', clip_len=3, frame_stride=2,
                     window_step=4, start_rule='frames_fit'),
                dict(type='LoadClip'),
                dict(type='SampleClip', clip_len=9)]
    step = pipeline_clip_sampler(pipeline)
    assert isinstance(step, SampleClip)
    assert (step.clip_len, step.frame_stride, step.window_step,
            step.start_rule, step.random_start) == (3, 2, 4, 'frames_fit',
                                                    True)
    assert repr(step) == repr(TRANSFORMS.build(pipeline[0])) == (
        "SampleClip(clip_len=3, frame_stride=2, window_step=4, "
        "start_rule='frames_fit', random_start=True)")
    # a scoped type name and the class itself name the step too
    for kind in ('mosic_mm.SampleClip', SampleClip):
        assert pipeline_clip_sampler([dict(type=kind, clip_len=5)]
                                     ).clip_len == 5
    with pytest.raises(ValueError, match='cfg.py: the pipeline has no '
                       'SampleClip step'):
        pipeline_clip_sampler([dict(type='LoadClip')], 'cfg.py: the '
                              'pipeline')
