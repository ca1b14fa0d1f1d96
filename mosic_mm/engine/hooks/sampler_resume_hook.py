"""Resuming an epoch-based run in the middle of an epoch."""
from mmengine.hooks import Hook

from mosic_mm.registry import HOOKS


def _sampler_and_batch(dataloader):
    """``(sampler, clips per batch)`` of a torch DataLoader."""
    sampler = getattr(dataloader, 'sampler', None)
    batch = getattr(dataloader, 'batch_size', None)
    if batch is None:  # a batch sampler was given
        batch_sampler = dataloader.batch_sampler
        sampler, batch = batch_sampler.sampler, batch_sampler.batch_size
    return sampler, int(batch)


@HOOKS.register_module()
class SamplerResumeHook(Hook):
    """Makes a resume from a mid-epoch checkpoint continue the epoch.

    mmengine's ``EpochBasedTrainLoop`` resumes at the start of the
    checkpoint's epoch: the batches of that epoch trained before the
    checkpoint are trained again and the run ends that many iterations past
    ``max_iters``. When the sampler has ``resume_from(n)``
    (:class:`mosic_mm.datasets.MixedRatioSampler`), this hook tells it to
    skip the ``n = batches done in the epoch x batch size`` clips this rank
    already trained on, so the resumed run draws exactly the batches the
    interrupted one would have. Other samplers get a warning. The
    ``IterBasedTrainLoop`` needs nothing: mmengine replays the data of the
    iterations done.
    """
    priority = 'NORMAL'

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # iteration-based loop
            return
        per_epoch = len(loop.dataloader)
        done = runner.iter - runner.epoch * per_epoch
        if not 0 < done <= per_epoch:
            return
        sampler, batch = _sampler_and_batch(loop.dataloader)
        if hasattr(sampler, 'resume_from'):
            sampler.resume_from(min(done * batch, len(sampler)))
            runner.logger.info(
                f'SamplerResumeHook: epoch {runner.epoch + 1} continues after '
                f'its first {done} of {per_epoch} batches (the checkpoint '
                f'was saved mid-epoch); {type(sampler).__name__} skips the '
                f'{done * batch} clips this rank trained on')
        else:
            runner.logger.warning(
                f'SamplerResumeHook: the checkpoint was saved after {done} of '
                f'{per_epoch} batches of epoch {runner.epoch + 1}, but '
                f'{type(sampler).__name__} cannot skip them: the epoch '
                f'restarts, {done} batches are trained twice and the run '
                f'ends {done} iterations after max_iters (use '
                'MixedRatioSampler, or checkpoints by epoch)')
