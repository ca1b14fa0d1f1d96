# cityscapes, fine-tuning protocol (finetune_protocol.py), rescaled around the
# 2048x1024 frames instead of (2048, 448).
_base_ = ['./cityscapes.py', './finetune_protocol.py']
ft_train_pipeline = [
    dict(t, scale=(2048, 1024)) if t.type == 'RandomResize' else t
    for t in _base_.ft_train_pipeline]
ft_test_pipeline = [
    dict(t, scale=(2048, 1024)) if t.type == 'Resize' else t
    for t in _base_.ft_test_pipeline]
train_dataloader = dict(
    batch_size=2, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=ft_train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=ft_test_pipeline))
test_dataloader = val_dataloader
