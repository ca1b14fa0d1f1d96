"""MixedRatioSampler draws each dataset of a mix with its ratio (or in
proportion to size, the official behaviour), deterministically, sharded
over ranks and resumable mid-epoch; configs/mosic_vits_mixed.py trains on
CPU with it, counts each dataset's clips and resumes after a kill."""
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from mosic_mm.datasets import mixed_sampler
from mosic_mm.datasets.mixed_sampler import (
    MixedRatioSampler,
    check_ratios,
    epoch_order,
    ratio_quotas,
)

REPO = Path(__file__).resolve().parents[2]
MIXED_CONFIG = str(REPO / 'configs' / 'mosic_vits_mixed.py')


class _Concat:
    """Stand-in for a concatenation of datasets of the given sizes."""

    def __init__(self, *sizes, names=None):
        self.cumulative_sizes = np.cumsum(sizes).tolist()
        self.dataset_names = names or [f'd{i}' for i in range(len(sizes))]

    def __len__(self):
        return self.cumulative_sizes[-1]


def _sampler(monkeypatch, dataset, rank=0, world=1, **kw):
    monkeypatch.setattr(mixed_sampler, 'get_dist_info',
                        lambda: (rank, world))
    return MixedRatioSampler(dataset, seed=kw.pop('seed', 7), **kw)


def _source(indices, dataset):
    return np.searchsorted(dataset.cumulative_sizes, indices, side='right')


# ------------------------------------------------------------ the draws
def test_3_to_1_ratio_on_2000_draws_whatever_the_sizes(monkeypatch):
    ds = _Concat(40, 960)  # sizes 1 : 24
    s = _sampler(monkeypatch, ds, ratios=[3, 1], epoch_length=2000)
    draws = np.array(list(s))
    assert draws.size == 2000
    counts = np.bincount(_source(draws, ds), minlength=2)
    assert counts.tolist() == [1500, 500]  # the epoch's quotas, exactly
    # any window of the shuffled order is 3:1 within sampling noise
    # (binomial sd of 500 draws: 9.7 clips)
    first = np.bincount(_source(draws[:500], ds), minlength=2)
    assert abs(first[0] - 375) < 45, first
    # the small dataset is repeated, every video once before any twice
    small = draws[_source(draws, ds) == 0]
    assert np.bincount(small, minlength=40).min() >= 1500 // 40
    assert np.bincount(small, minlength=40).max() <= 1500 // 40 + 1


def test_without_ratios_each_clip_once_per_epoch(monkeypatch):
    ds = _Concat(30, 10)
    s = _sampler(monkeypatch, ds)
    for epoch in range(3):
        s.set_epoch(epoch)
        draws = list(s)
        assert sorted(draws) == list(range(40))  # proportional to size
    s.set_epoch(0)
    a = list(s)
    s.set_epoch(1)
    assert a != list(s)  # reshuffled per epoch
    assert list(_sampler(monkeypatch, ds, shuffle=False)) == list(range(40))
    with pytest.raises(ValueError, match='epoch_length needs ratios'):
        _sampler(monkeypatch, ds, epoch_length=10)


def test_deterministic_from_the_seed_and_streams_continue(monkeypatch):
    ds = _Concat(5, 100)
    kw = dict(ratios=[1, 1], epoch_length=20)
    a, b = _sampler(monkeypatch, ds, **kw), _sampler(monkeypatch, ds, **kw)
    assert list(a) == list(b)
    assert list(a) != list(_sampler(monkeypatch, ds, seed=8, **kw))
    # dataset 1 (100 videos, 10 clips per epoch): ten epochs see each once
    seen = []
    for epoch in range(10):
        a.set_epoch(epoch)
        seen += [i for i in a if i >= 5]
    assert sorted(seen) == list(range(5, 105))


def test_ranks_share_one_order_without_overlap(monkeypatch):
    ds = _Concat(50, 150)
    kw = dict(ratios=[1, 3], epoch_length=199)  # 199: padded to 200
    ranks = [_sampler(monkeypatch, ds, rank=r, world=4, **kw)
             for r in range(4)]
    per_rank = [list(s) for s in ranks]
    assert {len(p) for p in per_rank} == {50} and len(ranks[0]) == 50
    order = epoch_order([50, 150], check_ratios([1, 3], ['a', 'b']), 199,
                        7, 0)
    padded = np.concatenate([order, order[:1]])
    for r in range(4):
        assert per_rank[r] == padded[r::4].tolist()
    # one step of 4 ranks x 5 clips: 20 consecutive positions of the order,
    # no clip twice
    batch = 5
    for step in range(10):
        clips = [i for p in per_rank
                 for i in p[step * batch:(step + 1) * batch]]
        assert len(set(clips)) == len(clips), step


def test_resume_from_skips_the_clips_done(monkeypatch):
    ds = _Concat(7, 9)
    s = _sampler(monkeypatch, ds, rank=1, world=2, ratios=[2, 1],
                 epoch_length=30)
    s.set_epoch(3)
    full = list(s)
    s.resume_from(6)
    assert list(s) == full[6:]
    assert list(s) == full  # once only
    with pytest.raises(ValueError, match='num_done'):
        s.resume_from(16)


def test_quotas_round_by_largest_remainder():
    assert ratio_quotas(np.array([0.5, 0.25, 0.25]), 10).tolist() == [5, 3, 2]
    assert ratio_quotas(np.array([1 / 3] * 3), 100).sum() == 100


@pytest.mark.parametrize('ratios,error', [
    ([1, 0], 'ratio of dataset .b. is 0'),
    ([1, -2], 'ratio of dataset .b. is -2'),
    ([1, float('nan')], 'finite number > 0'),
    ([1], '1 ratios'),
    ([1, 'x'], 'not a number'),
    ('11', 'list of numbers'),
])
def test_bad_ratios_are_errors(monkeypatch, ratios, error):
    with pytest.raises((ValueError, TypeError), match=error):
        _sampler(monkeypatch, _Concat(3, 4, names=['a', 'b']), ratios=ratios)


# ------------------------------------------------------------ training
def tiny_mixed_options(roots, max_epochs=2, checkpoint_interval=4):
    """--cfg-options turning configs/mosic_vits_mixed.py into a seconds-long
    CPU run over two synthetic roots: a small random ViT (DeiT-tiny, one
    trained block), 64 px frames, StaticTracker tracks made on the fly, 2
    clips per batch, checkpoints every ``checkpoint_interval`` iterations."""
    opts = []
    for i, root in enumerate(roots):
        p = f'train_dataloader.dataset.datasets.{i}.'
        # pipeline: 0 SampleClip, 1 LoadClip, 2 ClipResize, 3 LoadTracks,
        # 4 crop, 5 flip, 6 SelectTracks, 7 pack
        opts += [f'{p}data_root={root}', f'{p}pipeline.0.clip_len=3',
                 f'{p}pipeline.0.frame_stride=2',
                 f'{p}pipeline.0.window_step=None',
                 f'{p}pipeline.2.scale=[64,64]',
                 f'{p}pipeline.3.on_missing=track',
                 f'{p}pipeline.3.grid_size=8',
                 f'{p}pipeline.3.tracker.type=StaticTracker',
                 f'{p}pipeline.4.size=56',
                 f'{p}pipeline.6.num_tracks=16',
                 f'{p}pipeline.6.grid_size=4']
    return opts + [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.pin_memory=False',
        'model.backbone.init_cfg=None',
        'model.backbone.arch=deit-tiny',  # 192 wide (arch dicts cannot be
        'model.backbone.img_size=56',      # given on the command line)
        'model.head.hidden_channels=[48]',
        'model.head.out_channels=16', 'model.head.num_prototypes=8',
        'model.num_trainable_blocks=1', 'model.teacher_dtype=None',
        f'train_cfg.max_epochs={max_epochs}',
        'auto_scale_lr.base_batch_size=2',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.by_epoch=False',
        f'default_hooks.checkpoint.interval={checkpoint_interval}',
        'default_hooks.checkpoint.max_keep_ckpts=2',
        'log_processor.window_size=1',
        f'experiment_name=mixed_{uuid.uuid4().hex[:12]}']


def _train_cmd(work_dir, roots, *extra, options=(), **kw):
    return [sys.executable, str(REPO / 'tools' / 'train.py'), MIXED_CONFIG,
            '--work-dir', str(work_dir), *extra, '--cfg-options',
            *tiny_mixed_options(roots, **kw), *options]


def _run_train(*args, **kw):
    proc = subprocess.run(_train_cmd(*args, **kw), cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _last_iter(work_dir) -> int:
    """Iteration of the checkpoint ``last_checkpoint`` names (0: none)."""
    try:
        name = (work_dir / 'last_checkpoint').read_text().strip()
    except FileNotFoundError:
        return 0
    digits = Path(name).name[len('iter_'):-len('.pth')]
    return int(digits) if digits.isdigit() else 0


@pytest.mark.parametrize('ratios,expected', [
    (None, {'ytvos': 12, 'mose': 4}),  # sizes 6 : 2 (official)
    ('[1,3]', {'ytvos': 4, 'mose': 12}),  # ratios, whatever the sizes
])
@pytest.mark.slow  # tools/train.py in a subprocess
def test_train_mixed_config_counts_clips_per_dataset(
        two_roots, tmp_path, ratios, expected, scalar_records):
    work = tmp_path / 'work'
    opts = () if ratios is None else (f'train_dataloader.sampler.ratios='
                                      f'{ratios}', )
    log = _run_train(work, two_roots, options=opts)
    # 2 epochs of 8 clips, batch 2: 8 iterations; counts exact per epoch
    rec = scalar_records(work)
    assert sorted(rec) == list(range(1, 9))
    assert {k: rec[8][f'clips_{k}'] for k in expected} == expected
    assert rec[4]['clips_ytvos'] + rec[4]['clips_mose'] == 8
    share = ', '.join(f'{k} {v} ({100 * v / 16:.1f}%)'
                      for k, v in expected.items())
    assert f'clips per dataset: {share}' in log
    assert 'MixedRatioSampler: ' + ('proportional to size' if ratios is None
                                    else 'ratios 0.25 : 0.75') in log
    ckpt = torch.load(work / 'iter_8.pth', map_location='cpu')
    assert ckpt['meta']['clips_per_dataset'] == expected


@pytest.mark.slow  # three runs of tools/train.py
def test_kill_9_mid_epoch_then_resume_draws_the_same_batches(
        two_roots, tmp_path, scalar_records, same_run):
    opts = ('train_dataloader.sampler.ratios=[1,3]', 'model.mask_ratio=0.25')
    ref, work = tmp_path / 'ref', tmp_path / 'killed'
    _run_train(ref, two_roots, options=opts, checkpoint_interval=8)
    ref_rec = scalar_records(ref)

    seed = random.randrange(2 ** 32)
    proc = subprocess.Popen(_train_cmd(work, two_roots, options=opts,
                                       checkpoint_interval=1),
                            cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # kill after a checkpoint inside the first epoch (iterations 1-3 of 4),
    # at its end (4, the epoch not closed yet) or inside the second (5-7)
    target = random.Random(seed).randint(1, 7)
    try:
        deadline = time.time() + 300
        # last_checkpoint, not the .pth: it is written after the checkpoint
        while _last_iter(work) < target:
            assert proc.poll() is None, 'training ended before the kill'
            assert time.time() < deadline
            time.sleep(0.005)
        proc.kill()
    finally:
        proc.wait()
    assert proc.returncode == -9
    killed_at = torch.load((work / 'last_checkpoint').read_text().strip(),
                           map_location='cpu')['meta']['iter']
    assert 1 <= killed_at < 8, (killed_at, seed)

    log = _run_train(work, two_roots, '--resume', options=opts,
                     checkpoint_interval=1)
    assert 'SamplerResumeHook: epoch' in log, log[-3000:]
    rec = scalar_records(work)
    assert sorted(rec) == list(range(1, 9)), (killed_at, seed)
    # same clips, crops and token masks (numpy's and torch's RNG states are
    # restored after the epoch's dataloader iterator is made): the same
    # losses and weights, within the cross-process tolerance; a resume that
    # draws other crops or masks changed the loss by 8 % (checked with
    # torch's RNG state not restored)
    a = torch.load(work / 'iter_8.pth', map_location='cpu')
    b = torch.load(ref / 'iter_8.pth', map_location='cpu')
    same_run({i: rec[i]['loss'] for i in sorted(rec)},
             {i: ref_rec[i]['loss'] for i in sorted(ref_rec)},
             a['state_dict'], b['state_dict'])
    assert [rec[i]['clips_mose'] for i in range(1, 9)] == [
        ref_rec[i]['clips_mose'] for i in range(1, 9)], (killed_at, seed)
