"""mmengine's default optimizer constructor, minus one warning per frozen
tensor (MoSiC freezes most of the student and all of the teacher: hundreds of
tensors for a ViT-L, so the log gets a one-line summary instead), plus
``force_default_settings`` in ``custom_keys``: mmengine 0.10.7 ignores
``bias/norm/flat_decay_mult`` for every parameter that matches a custom key,
so without it backbone biases, norms and LayerScale would be decayed."""
import logging

from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from mosic_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

_SKIPPED = 'is skipped since its requires_grad=False'


class _CountSkipped(logging.Filter):

    def __init__(self):
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if _SKIPPED in record.getMessage():
            self.count += 1
            return False
        return True


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (same param groups, paramwise_cfg
    included) that optimises only parameters with ``requires_grad`` and logs
    how many frozen ones it left out in one line.

    A ``custom_keys`` entry with ``force_default_settings=True`` keeps its
    ``lr_mult`` / ``decay_mult`` and still gets the default decay rules:
    norm weights/biases -> ``norm_decay_mult``, other biases ->
    ``bias_decay_mult``, other 1-D tensors -> ``flat_decay_mult``.
    """

    def add_params(self, params, module, prefix='', is_dcn_module=None):
        start = len(params)
        direct = [(name, p) for name, p in
                  module.named_parameters(recurse=False) if p.requires_grad]
        super().add_params(params, module, prefix, is_dcn_module)
        if self.base_wd is None:
            return
        cfg = self.paramwise_cfg
        is_norm = isinstance(module,
                             (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm))
        for (name, param), group in zip(direct, params[start:]):
            assert group['params'][0] is param
            if not group.get('force_default_settings', False):
                continue
            decay = group['weight_decay']
            if is_norm and cfg.get('norm_decay_mult') is not None:
                decay = decay * cfg['norm_decay_mult']
            elif name == 'bias' and cfg.get('bias_decay_mult') is not None:
                decay = decay * cfg['bias_decay_mult']
            elif param.ndim == 1 and cfg.get('flat_decay_mult') is not None:
                decay = decay * cfg['flat_decay_mult']
            group['weight_decay'] = decay

    def __call__(self, model):
        logger = MMLogger.get_current_instance()
        skipped = _CountSkipped()
        logger.addFilter(skipped)
        try:
            wrapper = super().__call__(model)
        finally:
            logger.removeFilter(skipped)
        module = getattr(model, 'module', model)
        trainable = sum(p.numel() for p in module.parameters()
                        if p.requires_grad)
        print_log(
            f'optimizer: {trainable / 1e6:.2f} M trainable parameters; '
            f'{skipped.count} frozen tensors (teacher, frozen blocks) left '
            'out', logger='current')
        return wrapper
