# The reference recipe (mosic_vits_ytvos.py) trained on
# EPIC-KITCHENS-100 (video files) instead of YouTube-VOS: only the dataset
# differs (_base_/datasets/epic_kitchens_videos.py; layout and preparation in
# docs/datasets.md). Its LoadTracks names this config's extraction command.
_base_ = ['./mosic_vits_ytvos.py', '_base_/datasets/epic_kitchens_videos.py']
train_pipeline = [
    dict(t, extract_cmd='python tools/extract_tracks.py '
         'configs/mosic_vits_epic_kitchens_videos.py (multi-GPU: torchrun '
         '--nproc_per_node 8 tools/extract_tracks.py '
         'configs/mosic_vits_epic_kitchens_videos.py --launcher pytorch)')
    if t.type == 'LoadTracks' else
    dict(t, **_base_.epic_kitchens_videos_clips) if t.type == 'SampleClip' else t
    for t in _base_.train_pipeline]
train_dataloader = dict(
    dataset=dict(_base_.epic_kitchens_videos_train, pipeline=train_pipeline))
