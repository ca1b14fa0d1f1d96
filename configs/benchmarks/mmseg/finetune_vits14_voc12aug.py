# finetune ViT-S/14 on voc12aug: see docs/evaluation.md.
_base_ = ['./_base_/finetune.py', './_base_/datasets/voc12aug_finetune.py']
model = dict(decode_head=dict(num_classes=21))
