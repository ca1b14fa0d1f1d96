# `make demo` (tools/demo.sh -> tools/reproduce_mini.py --demo): the paper's
# regime in a few minutes on 2 CPU cores. MoSiC on exact tracks
# (mosic_gt_tracks.py, the mini reproduction's best arm) from the committed
# image-SSL start assets/mini/imgssl_start.pth: the backbone of the MoCoV3
# checkpoint of imgssl_pretrain.py (its .json records the config digest;
# `make reproduce-mini` remakes both when that config changes).
# Deviation from the mini reproduction, for the demo's time budget: fewer
# crowd videos, in their own root. Videos are seeded by split and index, so
# these are the first videos of data/synthetic_crowd (the start saw the
# train ones as images). The seed spreads beside the demo's numbers are
# measured at these settings (assets/mini/demo_reference.json).
_base_ = ['./mosic_gt_tracks.py']

start_checkpoint = 'assets/mini/imgssl_start.pth'
data_root = 'data/synthetic_crowd_demo'
train_pipeline = _base_.train_pipeline
train_pipeline[2].update(
    extract_cmd='python tools/extract_tracks.py configs/mini/mosic_demo.py')
train_dataloader = dict(
    dataset=dict(data_root=data_root, num_train=12, num_val=12,
                 pipeline=train_pipeline))
model = dict(backbone=dict(init_cfg=dict(checkpoint=start_checkpoint)))
