# linear ViT-S/14 on cityscapes: see docs/evaluation.md.
_base_ = ['./_base_/linear.py', './_base_/datasets/cityscapes.py']
model = dict(decode_head=dict(num_classes=19))
