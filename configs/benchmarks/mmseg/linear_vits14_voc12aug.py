# linear ViT-S/14 on voc12aug: see docs/evaluation.md.
_base_ = ['./_base_/linear.py', './_base_/datasets/voc12aug.py']
model = dict(decode_head=dict(num_classes=21))
