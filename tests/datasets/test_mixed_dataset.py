"""MixedVideoDataset names the datasets of a mix, tags each clip with its
dataset (skips stay in it) and refuses overlapping or broken mixes."""
import numpy as np
import pytest


def _mixed(roots, names=('big', 'small'), clip_lens=None, steps=()):
    """A MixedVideoDataset of ``roots``: pipelines SampleClip(clip_len,
    frame_stride=2) (clip_len 3, or per dataset ``clip_lens``) then
    ``steps``."""
    from mmengine.registry import DefaultScope

    import mosic_mm  # noqa: F401
    from mosic_mm.registry import DATASETS
    clip_lens = clip_lens or [3] * len(roots)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(dict(
            type='MixedVideoDataset', names=list(names),
            datasets=[dict(type='VideoTrajectoryDataset', data_root=r,
                           pipeline=[dict(type='SampleClip', clip_len=n,
                                          frame_stride=2), *steps])
                      for r, n in zip(roots, clip_lens)]))


def test_names_are_checked_and_a_collection_listed_twice_is_refused(
        two_roots):
    ds = _mixed(two_roots)
    assert len(ds) == 8 and ds.dataset_names == ['big', 'small']
    with pytest.raises(ValueError, match='duplicate dataset names'):
        _mixed(two_roots, names=('a', 'a'))
    with pytest.raises(ValueError, match='one name per dataset'):
        _mixed(two_roots, names=('a', ))
    with pytest.raises(ValueError, match=r'A-Za-z0-9'):
        _mixed(two_roots, names=('a b', 'c'))
    # one collection listed twice: an error naming both and the ids
    with pytest.raises(ValueError, match=r'big and big2 .* share 6 video '
                       r'ids: "train_0000"'):
        _mixed([two_roots[0], two_roots[0]], names=('big', 'big2'))
    # ... also when the second copy only shares the first's explicit cache
    with pytest.raises(ValueError, match='share 2 video ids'):
        _mixed(two_roots, steps=[dict(type='LoadTracks',
                                      cache_dir=str(two_roots[0]))])


def test_clips_carry_their_dataset_and_skips_stay_in_it(two_roots):
    from mosic_mm.datasets.sources.video_io import CorruptVideoError
    from mosic_mm.registry import TRANSFORMS

    @TRANSFORMS.register_module(force=True)
    class _FailSmall0:
        def __call__(self, results):
            if results['data_root'] == two_roots[1] and \
                    results['video_id'] == 'train_0000':
                raise CorruptVideoError('test')
            return results

    ds = _mixed(two_roots, steps=[dict(type='_FailSmall0'),
                                  dict(type='LoadClip'),
                                  dict(type='PackTrackInputs',
                                       meta_keys=('video_id', ))])
    np.random.seed(0)
    for idx in range(8):
        sample = ds[idx]['data_samples']
        assert sample.dataset_name == ('big' if idx < 6 else 'small')
    # the corrupt clip of 'small' is replaced by another 'small' clip
    assert ds[6]['data_samples'].video_id == 'train_0001'
    assert ds[6]['data_samples'].skipped_clips >= 1


def test_a_dataset_without_a_clip_of_T_frames_is_an_error(two_roots):
    with pytest.raises(ValueError, match=r'no usable videos under '
                       r'"[^"]*small[^"]*/JPEGImages".*clip_len=9'):
        _mixed(two_roots, clip_lens=[3, 9])
