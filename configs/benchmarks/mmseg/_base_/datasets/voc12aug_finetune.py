# voc12aug, fine-tuning protocol (finetune_protocol.py); the pipeline goes into
# both parts of the train + aug ConcatDataset.
_base_ = ['./voc12aug.py', './finetune_protocol.py']
train_dataloader = dict(
    batch_size=2, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(datasets=[
        dict(d, pipeline=_base_.ft_train_pipeline)
        for d in _base_.train_dataloader.dataset.datasets]))
val_dataloader = dict(dataset=dict(pipeline=_base_.ft_test_pipeline))
test_dataloader = val_dataloader
