"""mmengine's FSDPStrategy with checkpoints that DDP runs read and write."""
from typing import List

import torch
from mmengine._strategy import FSDPStrategy
from mmengine.registry import STRATEGIES
from torch.distributed.fsdp import (
    FullOptimStateDictConfig,
    FullStateDictConfig,
)
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

__all__ = ['PortableFSDPStrategy']

_OPTIM_KEYS = ('state', 'param_groups')


@STRATEGIES.register_module()
class PortableFSDPStrategy(FSDPStrategy):
    """``FSDPStrategy`` whose checkpoints are those of a DDP run: the full
    model state dict and the optimizer state in torch's own format (state
    and param groups keyed by the index of the parameter in the optimizer),
    written by rank 0. A run can so move between DDP and FSDP both ways,
    with ``load_from`` or ``--resume``.

    The optimizer's parameters are in the order the optimizer constructor
    visits the unwrapped model, under DDP and FSDP alike, so index ``i``
    names the same parameter in both; between the two the state goes
    through FSDP's name-keyed full optimizer state dict. (mmengine 0.10.7's
    own ``FSDPStrategy.load_optim_state_dict`` calls torch's
    ``optim_state_dict_to_load`` with the arguments of an older torch.)

    Args:
        **kwargs: ``FSDPStrategy`` arguments; ``state_dict_cfg`` can only be
            ``'full'``.
    """

    def __init__(self, *, state_dict_cfg='full', **kwargs):
        if state_dict_cfg != 'full':
            raise ValueError(
                "PortableFSDPStrategy writes full checkpoints "
                f"(state_dict_cfg='full'), got {state_dict_cfg!r}")
        super().__init__(state_dict_cfg='full', **kwargs)
        if not torch.cuda.is_available():
            # offload_to_cpu on a CPU group aliases the gathered buffers:
            # every optimizer state came out as the last one (exp_avg ==
            # exp_avg_sq); the tensors are on the CPU already
            self.state_dict_config = FullStateDictConfig(rank0_only=True,
                                                         offload_to_cpu=False)
            self.optim_state_dict_config = FullOptimStateDictConfig(
                rank0_only=True, offload_to_cpu=False)

    def _param_names(self) -> List[str]:
        """Unwrapped names of the optimizer's parameters, in its order."""
        from torch.distributed.fsdp._common_utils import clean_tensor_name
        names = {
            id(p): clean_tensor_name(n)
            for n, p in self.model.named_parameters()
        }
        return [
            names[id(p)] for group in self.optim_wrapper.optimizer.param_groups
            for p in group['params']
        ]

    def optim_state_dict(self) -> dict:
        """The full optimizer state, index-keyed ({} on ranks > 0)."""
        named = FSDP.optim_state_dict(self.model, self.optim_wrapper.optimizer)
        if not named:
            return {}
        index = {name: i for i, name in enumerate(self._param_names())}
        extra = {
            k: v
            for k, v in self.optim_wrapper.state_dict().items()
            if k not in _OPTIM_KEYS
        }  # e.g. the AMP loss scaler
        return dict(extra,
                    state={
                        index[k]: v
                        for k, v in named['state'].items()
                    },
                    param_groups=[
                        dict(g, params=[index[n] for n in g['params']])
                        for g in named['param_groups']
                    ])

    def load_optim_state_dict(self, state_dict: dict) -> None:
        """Load an index-keyed optimizer state (of a DDP or an FSDP run)."""
        names = self._param_names()
        if len(names) != sum(
                len(g['params']) for g in state_dict['param_groups']):
            raise ValueError(
                f'the checkpoint optimizer holds {sum(len(g["params"]) for g in state_dict["param_groups"])} '  # noqa: E501
                f'parameters, this run optimises {len(names)}: another set '
                'of trainable parameters')
        named = dict(state={
            names[i]: v
            for i, v in state_dict['state'].items()
        },
                     param_groups=[
                         dict(g, params=[names[i] for i in g['params']])
                         for g in state_dict['param_groups']
                     ])
        local = FSDP.optim_state_dict_to_load(self.model,
                                              self.optim_wrapper.optimizer,
                                              named)
        extra = {k: v for k, v in state_dict.items() if k not in _OPTIM_KEYS}
        self.optim_wrapper.load_state_dict(dict(local, **extra))
