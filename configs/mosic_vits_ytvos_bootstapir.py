# The reference recipe (mosic_vits_ytvos.py) with tracks from BootsTAPIR
# (Apache-2.0 code and weights, google-deepmind/tapnet; our PyTorch port)
# instead of DIS optical flow: only the tracker differs. Weights:
# checkpoints/bootstapir_checkpoint_v2.pt (docs/tracks.md). Its cache goes
# to <data_root>/track_cache/BootsTAPIR, filled with
#   python tools/extract_tracks.py configs/mosic_vits_ytvos_bootstapir.py
_base_ = ['./mosic_vits_ytvos.py']
tracker = dict(type='BootsTAPIR',
               checkpoint='checkpoints/bootstapir_checkpoint_v2.pt')
train_pipeline = [
    dict(t, tracker=tracker,
         extract_cmd='python tools/extract_tracks.py '
         'configs/mosic_vits_ytvos_bootstapir.py (multi-GPU: torchrun '
         '--nproc_per_node 8 tools/extract_tracks.py '
         'configs/mosic_vits_ytvos_bootstapir.py --launcher pytorch)')
    if t.type == 'LoadTracks' else t for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
