# ade20k, fine-tuning protocol (finetune_protocol.py).
_base_ = ['./ade20k.py', './finetune_protocol.py']
train_dataloader = dict(
    batch_size=2, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=_base_.ft_train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=_base_.ft_test_pipeline))
test_dataloader = val_dataloader
