# Pascal VOC 2012 + SBD aug (10582 train, 1449 val images, 21 classes): trains
# on train + aug (ConcatDataset). Layout: docs/datasets.md.
_base_ = ['./linear_protocol.py']
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
num_classes = 21
train_dataloader = dict(dataset=dict(
    _delete_=True, type='ConcatDataset', datasets=[
        dict(type=dataset_type, data_root=data_root,
             data_prefix=dict(img_path='JPEGImages', seg_map_path=seg_dir),
             ann_file=f'ImageSets/Segmentation/{split}.txt',
             pipeline=_base_.train_pipeline)
        for split, seg_dir in [('train', 'SegmentationClass'),
                               ('aug', 'SegmentationClassAug')]]))
val_dataloader = dict(dataset=dict(
    type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/val.txt'))
test_dataloader = val_dataloader
