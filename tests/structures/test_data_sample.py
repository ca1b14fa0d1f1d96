"""set_sample_metainfo: the metainfo a clip's data sample carries from the
dataset to the engine's hooks, under the keys they read."""
from mmpretrain.structures import DataSample

from mosic_mm.structures import (
    DATASET_NAME_KEY,
    SKIPPED_CLIPS_KEY,
    set_sample_metainfo,
)


def test_keys_are_the_names_the_logs_and_checkpoints_use():
    # RunSummaryHook writes them into scalars, the log and checkpoint meta
    assert SKIPPED_CLIPS_KEY == 'skipped_clips'
    assert DATASET_NAME_KEY == 'dataset_name'


def test_metainfo_is_added_to_a_packed_sample_only():
    sample = DataSample(metainfo=dict(video_id='v'))
    data = dict(inputs=None, data_samples=sample)
    set_sample_metainfo(data, **{SKIPPED_CLIPS_KEY: 2,
                                 DATASET_NAME_KEY: 'ytvos'})
    assert sample.skipped_clips == 2 and sample.dataset_name == 'ytvos'
    assert sample.video_id == 'v'  # what was there stays
    set_sample_metainfo(data, **{SKIPPED_CLIPS_KEY: 0})
    assert sample.skipped_clips == 0  # a later value replaces it
    # pipeline outputs without a packed sample are left as they are
    for other in (dict(imgs=1), dict(data_samples=[sample]), None, [1]):
        before = repr(other)
        set_sample_metainfo(other, skipped_clips=5)
        assert repr(other) == before
    assert sample.skipped_clips == 0
