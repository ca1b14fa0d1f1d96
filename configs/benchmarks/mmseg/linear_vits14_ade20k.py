# linear ViT-S/14 on ade20k: see docs/evaluation.md.
_base_ = ['./_base_/linear.py', './_base_/datasets/ade20k.py']
model = dict(decode_head=dict(num_classes=150))
