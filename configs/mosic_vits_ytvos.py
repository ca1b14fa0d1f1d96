# The reference MoSiC recipe (DESIGN.md §2): DINOv2 ViT-S/14 on YouTube-VOS,
# 8 GPUs x 8 clips, 8 epochs. Point model.backbone.init_cfg at the DINOv2
# checkpoint to start from it (random init otherwise):
#   --cfg-options model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '_base_/models/mosic_vits14.py',
    '_base_/datasets/ytvos.py',
    '_base_/schedules/adamw_cosine_8e.py',
    '_base_/default_runtime.py',
]
