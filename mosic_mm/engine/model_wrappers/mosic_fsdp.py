"""MoSiC under mmengine's ``FSDPStrategy`` (``FlexibleRunner``): how its
student and teacher are cut into FSDP units."""
from typing import Optional

import torch
from mmengine.logging import MMLogger
from mmengine.model import MMFullyShardedDataParallel
from torch import nn
from torch.distributed.fsdp import ShardingStrategy
from torch.distributed.fsdp.wrap import CustomPolicy

from mosic_mm.registry import MODEL_WRAPPERS

__all__ = ['MoSiCFSDP']


class _UnitPolicy(CustomPolicy):
    """torch's ``CustomPolicy`` (per-unit FSDP arguments); callable only so
    that mmengine's wrapper, which checks ``callable``, passes it on (FSDP
    runs a policy object through ``_run_policy``)."""

    def __call__(self, *args, **kwargs):
        raise TypeError('a policy object, not an old-style wrap function')


@MODEL_WRAPPERS.register_module()
class MoSiCFSDP(MMFullyShardedDataParallel):
    """mmengine's FSDP wrapper with MoSiC's units.

    - every transformer block of the student and of the teacher is a unit
      (sharded as ``sharding_strategy`` says; FULL_SHARD by default); a
      student block and its teacher block hold equal shapes in equal order,
      so their shards line up element for element and the EMA runs on the
      local shards;
    - the two heads are unsharded units (NO_SHARD: small, and their
      prototypes are renormalised in place at every step);
    - the rest (embeddings, norms) forms the root unit, which the teacher
      hook gathers (``summon_full_params(recurse=False)``) for its EMA.

    Frozen parameters shared by student and teacher
    (``model.share_frozen_weights``) cannot be split across two units and
    are refused, as are options that need CUDA when there is none.

    Args:
        module: a MoSiC model.
        device_id: the CUDA device (FSDPStrategy passes the local rank);
            ignored without CUDA, where the units stay on the CPU (gloo).
        **kwargs: :class:`~mmengine.model.MMFullyShardedDataParallel`
            arguments (``sharding_strategy``, ``mixed_precision``, ...).
    """

    def __init__(self, module: nn.Module, device_id: Optional[int] = None,
                 **kwargs):
        shared = getattr(getattr(module, 'shared_weights', None), 'keys', {})
        if shared:
            raise ValueError(
                f'FSDP cannot shard the {len(shared)} frozen parameters '
                'that the student and the teacher share (the same tensors '
                'in two units): train the whole backbone '
                '(model.num_trainable_blocks=None), or keep a full teacher '
                'copy (model.share_frozen_weights=False)')
        if 'auto_wrap_policy' in kwargs:
            raise ValueError('MoSiCFSDP sets its own auto_wrap_policy (one '
                             'unit per block, unsharded heads)')
        if not torch.cuda.is_available():
            if kwargs.get('cpu_offload'):
                raise ValueError('FSDP cpu_offload moves parameters off a '
                                 'GPU; there is no CUDA device here '
                                 '(tools/lab/gpu_check.sh runs it on one)')
            device_id = torch.device('cpu')
        # the student's transformer blocks (MoSiC's token adapter)
        blocks = tuple({type(layer) for layer in module.student_tokens.layers})
        heads = (type(module.head), )

        def unit(mod: nn.Module):
            if isinstance(mod, heads):
                return dict(sharding_strategy=ShardingStrategy.NO_SHARD)
            return isinstance(mod, blocks)

        super().__init__(module, device_id=device_id,
                         auto_wrap_policy=_UnitPolicy(unit), **kwargs)
        units = self.fsdp_modules(self)
        MMLogger.get_current_instance().info(
            f'MoSiCFSDP: {len(units)} FSDP units ({len(units) - 3} blocks '
            f'of student and teacher, 2 heads, the root) on '
            f'{self.world_size} ranks, {self.sharding_strategy.name}')
