"""Logs what a finished run skipped."""
from mmengine.hooks import Hook

from mosic_mm.registry import HOOKS


@HOOKS.register_module()
class RunSummaryHook(Hook):
    """At the end of training, logs how many optimizer steps were skipped for
    a non-finite loss (``optim_wrapper.num_skipped``, counted over resumes)
    and, when the training dataset counts them in this process
    (``num_skipped``; ``num_workers=0``), how many corrupt clips it skipped.
    """
    priority = 'VERY_LOW'

    def after_train(self, runner) -> None:
        parts = []
        skipped = getattr(runner.optim_wrapper, 'num_skipped', None)
        if skipped is not None:
            parts.append(f'{skipped} optimizer steps skipped for a non-finite '
                         'loss')
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        clips = getattr(dataset, 'num_skipped', None)
        workers = getattr(runner.train_dataloader, 'num_workers', 0)
        if clips is not None and not workers:
            parts.append(f'{clips} corrupt clips skipped')
        if parts:
            runner.logger.info(f'run summary after {runner.iter} iterations: '
                               + ', '.join(parts))
