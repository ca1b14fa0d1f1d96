# finetune ViT-S/14 on cityscapes: see docs/evaluation.md.
_base_ = ['./_base_/finetune.py', './_base_/datasets/cityscapes_finetune.py']
model = dict(decode_head=dict(num_classes=19))
