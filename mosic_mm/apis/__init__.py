"""What a user calls: one typed function per job, each behind a thin
``tools/*.py`` (argument parsing, then one call), as ``mmseg.apis``.

=====================  =================================================
``train``              train a config with mmengine's Runner
``test``               run a config's test loop on a checkpoint
``extract_tracks``     fill a config's track cache (resumable, sharded)
``extract_frames``     fill a config's frame cache
``evaluate``           one frozen-feature benchmark on a model
``evaluate_models``    several benchmarks x models, one table
``export_backbone``    a checkpoint's backbone in another key layout
``eval_tracking``      TAP-Vid metrics and speed of trackers
``visualize``          tracks, PCA features and clusters of a clip
``make_video_list``    the list file of a collection's videos
``unpack_co3d``        CO3D's zips to frame folders
=====================  =================================================

Every function builds in its config's registry scope and restores the
caller's, so calls can follow each other in one process. Names are loaded
on first use: importing this package imports none of the jobs.
"""
import importlib

_JOBS = dict(
    train='.train', build_train_config='.train', test='.test',
    build_test_config='.test', extract_tracks='.extract_tracks',
    extract_frames='.extract_frames', evaluate='.evaluate',
    evaluate_models='.evaluate', export_backbone='.export',
    eval_tracking='.eval_tracking', visualize='.visualize',
    make_video_list='.prepare_videos', unpack_co3d='.prepare_videos')

__all__ = sorted(_JOBS)


def __getattr__(name: str):
    if name not in _JOBS:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(_JOBS[name], __name__), name)
