# ADE20K (SceneParsing, 150 classes; label 0 = ignore, via ADE20KDataset's
# reduce_zero_label=True). Layout: docs/datasets.md.
_base_ = ['./linear_protocol.py']
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
num_classes = 150
train_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='images/training',
                     seg_map_path='annotations/training')))
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='images/validation',
                     seg_map_path='annotations/validation')))
test_dataloader = val_dataloader
