"""Skipped corrupt clips are counted exactly with dataloader workers and
ranks: the count travels with the batches, and the run summary, the log
line, the scalars (tensorboard) and the checkpoint show the total."""
import glob
import os
import os.path as osp

import numpy as np
import pytest

from mosic_mm.datasets.sources.video_io import CorruptVideoError
from mosic_mm.registry import TRANSFORMS


@TRANSFORMS.register_module(force=True)
class _CorruptSomeVideos:
    """Test transform: raises CorruptVideoError for the given videos and
    appends one line per raise to ``record`` (any process: workers too), the
    independent reference count."""

    def __init__(self, video_ids, record):
        self.video_ids, self.record = set(video_ids), record

    def __call__(self, results):
        if results['video_id'] in self.video_ids:
            fd = os.open(self.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, f'{os.getpid()} {results["video_id"]}\n'.encode())
            finally:
                os.close(fd)
            raise CorruptVideoError(f'test: {results["video_id"]} is corrupt')
        return results


def _run(tmp_path, config, overrides, num_workers,
         bad=('train_0001', 'train_0002')):
    from mmengine.config import Config
    from mmengine.runner import Runner
    record = str(tmp_path / 'raised.txt')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(overrides)
    pipe = cfg.train_dataloader.dataset.pipeline
    pipe.insert(1, dict(type='_CorruptSomeVideos', video_ids=list(bad),
                        record=record))
    # one finite epoch: every sample the workers load is trained on, so the
    # number of raises equals the number of skips the run must report
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    cfg.train_dataloader.dataset.num_train = 4
    cfg.train_dataloader.num_workers = num_workers
    cfg.train_dataloader.batch_size = 1
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        by_epoch=True)
    cfg.log_processor = dict(by_epoch=True, window_size=1)
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'] != 'MoSiCVisualizationHook']
    cfg.work_dir = str(tmp_path / f'work{num_workers}')
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(record) as f:
        lines = f.read().splitlines()
    return runner, lines


@pytest.mark.slow  # two epochs of training (and 2 dataloader workers)
@pytest.mark.parametrize('num_workers', [0, 2])
def test_skipped_clips_counted_exactly_with_workers(
        tmp_path, synthetic_root, synthetic_config, tiny_train_overrides,
        scalar_records, num_workers):
    np.random.seed(num_workers)
    runner, raised = _run(tmp_path, synthetic_config,
                          tiny_train_overrides(synthetic_root, 1),
                          num_workers)
    assert len(raised) >= 2  # each bad video is drawn once per epoch
    pids = {line.split()[0] for line in raised}
    if num_workers:
        assert str(os.getpid()) not in pids  # skipped in the workers
    hook = next(h for h in runner.hooks
                if type(h).__name__ == 'RunSummaryHook')
    assert hook.total_skipped_clips() == len(raised)
    # the last logged value (log line and vis_data scalars: tensorboard) is
    # the total, and it never decreases
    records = scalar_records(runner.work_dir, 'skipped_clips')
    logged = [records[i]['skipped_clips'] for i in sorted(records)]
    assert logged and logged[-1] == len(raised)
    assert logged == sorted(logged)
    assert runner.message_hub.get_scalar(
        'train/skipped_clips').current() == len(raised)
    # the checkpoint stores it for resumes
    import torch
    ckpt = torch.load(osp.join(runner.work_dir, 'epoch_2.pth'),
                      map_location='cpu')
    assert ckpt['meta']['skipped_clips'] == len(raised)
    log_file = glob.glob(osp.join(runner.work_dir, '*', '*.log'))[0]
    with open(log_file) as f:
        text = f.read()
    assert (f'{len(raised)} corrupt clips skipped (all dataloader workers '
            'and ranks)') in text
    assert f'skipped_clips: {len(raised)}' in text


RANKS_SCRIPT = r'''
import os, sys
sys.path.insert(0, {repo!r})
from types import SimpleNamespace
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample
from mosic_mm.engine.hooks import RunSummaryHook
from mosic_mm.utils.dist import distributed_session

rank = int(os.environ['RANK'])
with distributed_session('pytorch'):
    hook = RunSummaryHook()
    runner = SimpleNamespace(message_hub=MessageHub.get_instance('skips'))
    hook.before_train(runner)
    # rank 0 skipped 2 + 0 clips, rank 1 skipped 1 + 4: total 7
    per_iter = [[2, 0], [1, 4]][rank]
    for i, n in enumerate(per_iter):
        batch = dict(data_samples=[DataSample(metainfo=dict(skipped_clips=n)),
                                   DataSample(metainfo=dict(skipped_clips=0))])
        hook.after_train_iter(runner, i, batch)
        print(f'rank {{rank}} iter {{i}} total {{hook.total_skipped_clips()}}',
              flush=True)
'''


@pytest.mark.slow  # torchrun, two processes
def test_counts_are_summed_over_ranks(tmp_path, repo, torchrun):
    script = tmp_path / 'ranks.py'
    script.write_text(RANKS_SCRIPT.format(repo=repo))
    proc, log = torchrun([str(script)])
    assert proc.returncode == 0, log[-3000:]
    for rank in (0, 1):
        assert f'rank {rank} iter 0 total 3' in log  # 2 + 1
        assert f'rank {rank} iter 1 total 7' in log  # 2 + 0 + 1 + 4
