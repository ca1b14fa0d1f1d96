"""Metainfo a clip's data sample carries between the dataset (which sets
it) and the engine's hooks (which count it)."""

__all__ = ['SKIPPED_CLIPS_KEY', 'DATASET_NAME_KEY', 'set_sample_metainfo']

#: clips skipped (corrupt) before this one was returned, int
SKIPPED_CLIPS_KEY = 'skipped_clips'
#: the name of the dataset of a mix the clip came from, str
DATASET_NAME_KEY = 'dataset_name'


def set_sample_metainfo(data, **meta) -> None:
    """Add ``meta`` to ``data['data_samples']``' metainfo when the pipeline
    packed a data sample (``PackTrackInputs``); other outputs are left
    unchanged."""
    sample = data.get('data_samples') if isinstance(data, dict) else None
    if hasattr(sample, 'set_metainfo'):
        sample.set_metainfo(meta)
