"""MoSiCFSDP refuses what it cannot shard, and what needs CUDA when there
is none, before any process group is needed (the sharded run on CPU:
test_fsdp_training.py; with cpu_offload and bf16 mixed precision:
``tools/lab/gpu_check.sh`` on a GPU)."""
import pytest
import torch
from torch.distributed.fsdp import CPUOffload

from mosic_mm.engine import MoSiCFSDP


def test_shared_frozen_weights_are_refused_with_the_way_out(tiny_model):
    model = tiny_model()  # one trainable block, the rest shared
    assert model.shared_weights.keys
    with pytest.raises(ValueError, match='share_frozen_weights=False'):
        MoSiCFSDP(model)


def test_its_own_wrap_policy_is_not_replaced(tiny_model):
    model = tiny_model(num_trainable_blocks=None)  # nothing shared
    assert not model.shared_weights.keys
    with pytest.raises(ValueError, match='auto_wrap_policy'):
        MoSiCFSDP(model, auto_wrap_policy=lambda *a, **k: False)


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is here')
def test_cpu_offload_without_cuda_is_refused(tiny_model):
    with pytest.raises(ValueError, match='no CUDA device'):
        MoSiCFSDP(tiny_model(num_trainable_blocks=None),
                  cpu_offload=CPUOffload(offload_params=True))
