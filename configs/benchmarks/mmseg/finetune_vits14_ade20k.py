# finetune ViT-S/14 on ade20k: see docs/evaluation.md.
_base_ = ['./_base_/finetune.py', './_base_/datasets/ade20k_finetune.py']
model = dict(decode_head=dict(num_classes=150))
