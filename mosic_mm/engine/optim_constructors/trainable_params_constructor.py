"""mmengine's default optimizer constructor, minus one warning per frozen
tensor: MoSiC freezes most of the student and all of the teacher (hundreds of
tensors for a ViT-L), so the log gets a one-line summary instead."""
import logging

from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor

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
    how many frozen ones it left out in one line."""

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
