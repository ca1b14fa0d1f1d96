# What the official mixed default really trains on (experiments/
# exp_mosic_multigpu.py --dataset mixed, default --mixed_datasets ytvos mose
# --sampling_ratios 1.0 1.0): YouTube-VOS train and MOSE train concatenated,
# every video once per epoch, shuffled -- each dataset contributes in
# proportion to its size, because the official MixedDataset's ratio draw is
# commented out. Everything else is the ViT-S/14 YT-VOS recipe
# (mosic_vits_ytvos.py). MOSE clips use frame stride 1: the official mixed
# path builds MOSE with regular_step=1 (YT-VOS keeps the recipe's 6).
#
# Ratios, our named extension (docs/reproduction.md): each epoch draws the
# datasets 3 : 1 whatever their sizes, e.g.
#   --cfg-options train_dataloader.sampler.ratios=[3,1]
# Per-dataset clip counts: the log's clips_<name> and the run summary.
#
# Layouts: _base_/datasets/ytvos.py and mose.py (docs/datasets.md). Track
# caches: python tools/extract_tracks.py configs/mosic_vits_mixed.py
# (each dataset's under its own data_root).
_base_ = ['./mosic_vits_ytvos.py', '_base_/datasets/mose.py']

extract_cmd = ('python tools/extract_tracks.py configs/mosic_vits_mixed.py '
               '(multi-GPU: torchrun --nproc_per_node 8 '
               'tools/extract_tracks.py configs/mosic_vits_mixed.py '
               '--launcher pytorch)')
mixed_pipeline = [
    dict(t, extract_cmd=extract_cmd) if t['type'] == 'LoadTracks' else t
    for t in _base_.train_pipeline
]
# the list of videos and frame counts, indexed once into
# <data_root>/video_index.bin (docs/datasets.md, "Large collections")
ytvos_train = dict(_base_.train_dataloader.dataset, pipeline=mixed_pipeline,
                   index_file='video_index.bin')
mose_train = dict(_base_.mose_train, index_file='video_index.bin',
                  pipeline=[dict(t, frame_stride=1) if t['type'] == 'SampleClip'
                            else t for t in mixed_pipeline])

train_dataloader = dict(
    # ratios=None: proportional to size (the official behaviour)
    sampler=dict(_delete_=True, type='MixedRatioSampler', ratios=None,
                 shuffle=True),
    dataset=dict(
        _delete_=True,
        type='MixedVideoDataset',
        names=['ytvos', 'mose'],
        datasets=[ytvos_train, mose_train]))
