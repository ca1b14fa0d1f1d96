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
``plan_memory``        per-rank memory of a training run, before it
``eval_tracking``      TAP-Vid metrics and speed of trackers
``visualize``          tracks, PCA features and clusters of a clip
``make_video_list``    the list file of a collection's videos
``unpack_co3d``        CO3D's zips to frame folders
=====================  =================================================

Every function builds in its config's registry scope and restores the
caller's, so calls can follow each other in one process. The job modules
import their heavy dependencies when called.
"""
from .eval_tracking import eval_tracking
from .evaluate import evaluate, evaluate_models
from .export import export_backbone
from .extract_frames import extract_frames
from .extract_tracks import extract_tracks
from .plan_memory import plan_memory
from .prepare_videos import make_video_list, unpack_co3d
from .test import build_test_config, test
from .train import build_train_config, train
from .visualize import visualize

__all__ = [
    'build_train_config', 'train', 'build_test_config', 'test',
    'extract_tracks', 'extract_frames', 'evaluate', 'evaluate_models',
    'export_backbone', 'plan_memory', 'eval_tracking', 'visualize',
    'make_video_list', 'unpack_co3d'
]
