# Sharded training with mmengine's FlexibleRunner + FSDPStrategy (its
# PortableFSDPStrategy variant: checkpoints are a DDP run's): every
# transformer block of student and teacher is an FSDP unit (fully sharded),
# the heads unsharded units (MoSiCFSDP). Checkpoints are full state dicts
# on rank 0, the same files DDP runs write and read.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='PortableFSDPStrategy',
    model_wrapper=dict(type='MoSiCFSDP'))
