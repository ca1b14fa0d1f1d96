# Fine-tuning: the whole ViT-S/14 trains (drop path 0.1) under a BN + 1x1
# conv head; sliding-window inference over 448 crops.
_base_ = ['./vit14_linear.py']
model = dict(
    backbone=dict(frozen_stages=-1, drop_path_rate=0.1),
    test_cfg=dict(_delete_=True, mode='slide', crop_size=(448, 448),
                  stride=(298, 298)))
