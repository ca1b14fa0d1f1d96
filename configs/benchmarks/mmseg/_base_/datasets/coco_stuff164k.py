# COCO-Stuff-164k (171 classes, *_labelTrainIds.png from mmseg's
# coco_stuff164k.py converter). Layout: docs/datasets.md.
_base_ = ['./linear_protocol.py']
dataset_type = 'COCOStuffDataset'
data_root = 'data/coco_stuff164k'
num_classes = 171
train_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='images/train2017',
                     seg_map_path='annotations/train2017')))
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='images/val2017',
                     seg_map_path='annotations/val2017')))
test_dataloader = val_dataloader
