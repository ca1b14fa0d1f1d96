"""Logs the effective batch and Sinkhorn pool of a run at start-up."""
from typing import Optional, Tuple

from mmengine import dist
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from mosic_mm.registry import HOOKS


def batch_scale_report(clips_per_process: int, world_size: int,
                       accumulation: int = 1,
                       clip_len: Optional[int] = None,
                       tracks_per_clip: Optional[int] = None,
                       recipe_clips: Optional[int] = None
                       ) -> Tuple[str, bool]:
    """The start-up line on batch and Sinkhorn pool, and whether it differs
    from the recipe.

    The batch of one forward pass is ``B = clips_per_process * world_size``
    clips and Sinkhorn-Knopp balances the teacher scores of all its
    ``B * T * N`` points (all ranks). Gradient accumulation adds clips to an
    optimizer step, not to the pool.

    Args:
        clips_per_process: the dataloader's batch size.
        world_size: processes (GPUs).
        accumulation: forward passes per optimizer step.
        clip_len: frames per clip ``T`` (None: unknown).
        tracks_per_clip: tracks per clip ``N`` (None: unknown).
        recipe_clips: the global batch the config's learning rates are set
            for (``auto_scale_lr.base_batch_size``); None: no comparison.

    Returns:
        tuple: the message and True when the batch, clips per step or
        pool differ from the recipe's.
    """
    batch = clips_per_process * world_size
    procs = f'{world_size} process' + ('es' if world_size != 1 else '')
    parts = [f'batch {batch} clips per forward pass ({clips_per_process} per '
             f'process x {procs}), {batch * accumulation} per optimizer step '
             f'(accumulative_counts {accumulation})']
    known = clip_len is not None and tracks_per_clip is not None
    if known:
        parts.append(f'Sinkhorn pool {batch * clip_len * tracks_per_clip:,} '
                     f'points per pass ({batch} clips x {clip_len} frames x '
                     f'{tracks_per_clip} tracks, all ranks)')
    msg = '; '.join(parts)
    if recipe_clips is None:
        return msg + '.', False
    differs = batch != recipe_clips or accumulation != 1
    if not differs:
        return msg + f'; as the recipe ({recipe_clips} clips).', False
    recipe = f'the recipe: {recipe_clips} clips per pass and step'
    if known:
        recipe += (f', a pool of {recipe_clips * clip_len * tracks_per_clip:,}'
                   ' points')
    advice = (f'set train_dataloader.batch_size={recipe_clips} // '
              'processes to keep it (docs/reproduction.md, "Batch and GPU '
              'count"); gradient accumulation does not enlarge the '
              'Sinkhorn pool')
    return f'{msg}; differs from {recipe}: {advice}.', True


def _tracks_per_clip(pipeline) -> Optional[int]:
    """N after the pipeline: the last transform that sets it (``num_tracks``
    of ``SelectTracks``, else ``grid_size**2`` of ``LoadTracks`` /
    ``TrackPoints``)."""
    n = None
    for t in getattr(pipeline, 'transforms', ()):
        if getattr(t, 'num_tracks', None) is not None:
            n = int(t.num_tracks)
        elif type(t).__name__ in ('LoadTracks', 'TrackPoints'):
            n = int(t.grid_size)**2
    return n


@HOOKS.register_module()
class BatchScaleHook(Hook):
    """At the start of training, logs the batch per forward pass and per
    optimizer step and the Sinkhorn pool (:func:`batch_scale_report`), as a
    warning when they differ from the recipe: 8 clips per process are fixed
    by the config, so fewer processes shrink both without a word.

    Runs in ``before_run`` (after the dataloader is built, before weights
    are loaded); the recipe is ``auto_scale_lr.base_batch_size``.
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return  # not a training run (test / val)
        loader = runner.train_dataloader
        dataset = loader.dataset
        while not hasattr(dataset, 'pipeline') and hasattr(dataset,
                                                           'dataset'):
            dataset = dataset.dataset  # dataset wrappers
        sampler = getattr(dataset, 'clip_sampler', None)  # SampleClip
        clip_len = getattr(sampler, 'clip_len', None)
        scale = getattr(runner, 'auto_scale_lr', None) or getattr(
            runner, '_auto_scale_lr', None) or {}  # Runner / FlexibleRunner
        msg, differs = batch_scale_report(
            loader.batch_size, dist.get_world_size(),
            getattr(runner.optim_wrapper, '_accumulative_counts', 1),
            clip_len, _tracks_per_clip(getattr(dataset, 'pipeline', None)),
            scale.get('base_batch_size'))
        lr = 'not rescaled (auto_scale_lr off)'
        if scale.get('enable') and scale.get('base_batch_size'):
            factor = loader.batch_size * dist.get_world_size() / \
                scale['base_batch_size']
            lrs = sorted({g['lr'] for g in
                          runner.optim_wrapper.optimizer.param_groups})
            lr = (f'scaled by auto_scale_lr: x{factor:g} (batch '
                  f'{loader.batch_size * dist.get_world_size()} / '
                  f"base_batch_size {scale['base_batch_size']}), now "
                  + ', '.join(f'{v:.3g}' for v in lrs))
        (runner.logger.warning if differs else runner.logger.info)(
            f'{msg} Learning rates {lr}.')
