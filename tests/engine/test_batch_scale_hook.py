"""BatchScaleHook: the start-up log of the batch and the Sinkhorn pool, a
warning when they differ from the recipe, and the learning rates
auto_scale_lr leaves."""
import logging

import pytest
from mmengine.config import Config

from mosic_mm.engine.hooks.batch_scale_hook import batch_scale_report


def test_report_against_the_recipe():
    msg, differs = batch_scale_report(8, 8, 1, 12, 256, 64)  # 8 GPUs
    assert not differs
    assert 'batch 64 clips per forward pass (8 per process x 8 processes)' \
        in msg and 'Sinkhorn pool 196,608 points' in msg
    # one GPU, the config's 8 clips per process: 8x smaller, said so
    msg, differs = batch_scale_report(8, 1, 1, 12, 256, 64)
    assert differs
    assert 'batch 8 clips per forward pass (8 per process x 1 process)' \
        in msg
    assert 'Sinkhorn pool 24,576 points per pass (8 clips x 12 frames x 256 '\
        'tracks' in msg
    assert 'the recipe: 64 clips per pass and step, a pool of 196,608' in msg
    assert 'train_dataloader.batch_size=64 // processes' in msg
    # accumulation reaches 64 clips per step but not the pool
    msg, differs = batch_scale_report(8, 1, 8, 12, 256, 64)
    assert differs and '64 per optimizer step' in msg
    assert 'Sinkhorn pool 24,576' in msg and 'does not enlarge' in msg
    # the recipe kept on one GPU; no recipe known: only the numbers
    assert not batch_scale_report(64, 1, 1, 12, 256, 64)[1]
    msg, differs = batch_scale_report(4, 2, 1, None, None, None)
    assert not differs and 'pool' not in msg and 'batch 8 clips' in msg


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _train_and_log(cfg, work_dir):
    """Train ``cfg`` one iteration; the runner and its log records."""
    from mmengine.runner import Runner

    from mosic_mm.utils.config import registry_scope
    cfg.work_dir = str(work_dir)
    with registry_scope(cfg):
        runner = Runner.from_cfg(cfg)
        handler = _Records()
        runner.logger.addHandler(handler)
        try:
            runner.train()
        finally:
            runner.logger.removeHandler(handler)
    return runner, [(r.levelno, r.getMessage()) for r in handler.records]


@pytest.mark.parametrize('auto_scale', [False, True])
def test_training_logs_batch_pool_and_lr_before_the_first_step(
        auto_scale, tmp_path, synthetic_root, synthetic_config,
        tiny_train_overrides):
    """A tiny run (2 clips of 3 frames, 16 tracks; the synthetic recipe is
    8 clips at lr 1e-3): one warning before the first iteration with the
    batch and the pool; with auto_scale_lr the learning rates it reports
    are the optimizer's, scaled x0.25."""
    cfg = Config.fromfile(synthetic_config)
    cfg.merge_from_dict(tiny_train_overrides(synthetic_root, 1))
    cfg.auto_scale_lr.enable = auto_scale
    runner, lines = _train_and_log(cfg, tmp_path)
    first_iter = next(i for i, (_, m) in enumerate(lines)
                      if 'Iter(train)' in m)
    hits = [(i, lvl, m) for i, (lvl, m) in enumerate(lines)
            if 'Sinkhorn pool' in m]
    assert len(hits) == 1
    i, level, msg = hits[0]
    assert i < first_iter and level == logging.WARNING
    assert 'batch 2 clips per forward pass (2 per process x 1 process)' \
        in msg
    assert 'Sinkhorn pool 96 points per pass (2 clips x 3 frames x 16 ' \
        'tracks' in msg and 'the recipe: 8 clips' in msg
    lrs = {g['lr'] for g in runner.optim_wrapper.optimizer.param_groups}
    if auto_scale:
        assert sorted(lrs) == pytest.approx([2.5e-4])
        assert 'scaled by auto_scale_lr: x0.25 (batch 2 / base_batch_size ' \
            '8), now 0.00025' in msg
    else:
        assert sorted(lrs) == pytest.approx([1e-3])
        assert 'not rescaled (auto_scale_lr off)' in msg
