# finetune ViT-S/14 on coco_stuff164k: see docs/evaluation.md.
_base_ = ['./_base_/finetune.py', './_base_/datasets/coco_stuff164k_finetune.py']
model = dict(decode_head=dict(num_classes=171))
