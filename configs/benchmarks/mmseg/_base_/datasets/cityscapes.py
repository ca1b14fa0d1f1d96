# Cityscapes fine (19 classes, *_labelTrainIds.png from mmseg's cityscapes.py
# converter). Layout: docs/datasets.md.
_base_ = ['./linear_protocol.py']
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'
num_classes = 19
train_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='leftImg8bit/train',
                     seg_map_path='gtFine/train')))
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val')))
test_dataloader = val_dataloader
