# MOSE train (docs/datasets.md):
# data/mose/train/JPEGImages/<video>/<frame>.jpg, every folder of JPEGImages
# is a video (no list file). The training set of configs/mosic_vits_mose.py,
# which swaps it into the recipe:
#   _base_ = ['./mosic_vits_ytvos.py', '_base_/datasets/mose.py']
#   train_dataloader = dict(dataset=dict(_base_.mose_train, pipeline=...))
# Clip length, stride and the pipeline stay the recipe's.
mose_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/mose/train',
    data_prefix=dict(img='JPEGImages'),
    ann_file='')  # clips as YouTube-VOS (the recipe's SampleClip)
