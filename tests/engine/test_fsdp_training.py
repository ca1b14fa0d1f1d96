"""Sharded training on CPU: two gloo ranks under ``FlexibleRunner`` with
``PortableFSDPStrategy`` and ``MoSiCFSDP`` (configs/_base_/strategies/
fsdp.py) train as two DDP ranks do, and a run moves between DDP and FSDP
both ways through its checkpoints (model, teacher, optimizer, iteration).
What needs CUDA (cpu_offload, a GPU's mixed precision) is refused on CPU
(test_fsdp_refusals.py) and run by tools/lab/gpu_check.sh."""
import os.path as osp
import shutil

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = osp.join(REPO, 'tools', 'train.py')
CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')
# every block trains (FSDP cannot split weights that student and teacher
# share); the tiny ViT's two blocks are the FSDP units
FULL = ('model.num_trainable_blocks=None', )
FSDP = ('runner_type=FlexibleRunner', 'strategy.type=PortableFSDPStrategy',
        'strategy.model_wrapper.type=MoSiCFSDP')
# FSDP reduce-scatters where DDP all-reduces: sums in another order
TOL = dict(rtol=1e-4, atol=1e-6)


@pytest.fixture
def train2(torchrun, tiny_train_options, synthetic_root):
    """``train2(work, max_iters, *options, resume=None)``: tools/train.py
    on two gloo ranks, a checkpoint every iteration."""
    def run(work, max_iters, *options, resume=None):
        args = [TRAIN, CONFIG, '--launcher', 'pytorch', '--work-dir',
                str(work)]
        if resume:
            args += ['--resume', str(resume)]
        args += ['--cfg-options', *tiny_train_options(synthetic_root,
                                                      max_iters),
                 'default_hooks.checkpoint.interval=1', *FULL, *options]
        proc, log = torchrun(args)
        assert proc.returncode == 0, log[-4000:]
        return log
    return run


def _load(path):
    return torch.load(path, map_location='cpu')  # weights_only + allow-list


def _assert_close_states(a: dict, b: dict):
    assert a['meta']['iter'] == b['meta']['iter']
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][k], v, **TOL, msg=k)
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys() and sa
    for i in sa:
        for name in ('exp_avg', 'exp_avg_sq'):
            torch.testing.assert_close(sb[i][name], sa[i][name], **TOL,
                                       msg=f'{i}.{name}')
    assert a['optimizer']['param_groups'] == b['optimizer']['param_groups']


@pytest.mark.slow  # three 2-process torchrun trainings
def test_checkpoints_move_between_ddp_and_fsdp(tmp_path, train2):
    """DDP 3 iterations is the reference. FSDP resumed from its iteration
    1 reaches its iteration 3 (DDP -> FSDP); DDP resumed from that FSDP
    run's iteration 2 reaches it too (FSDP -> DDP)."""
    ddp, fsdp, back = tmp_path / 'ddp', tmp_path / 'fsdp', tmp_path / 'back'
    train2(ddp, 3)
    ref1, ref3 = _load(ddp / 'iter_1.pth'), _load(ddp / 'iter_3.pth')
    assert any(not torch.equal(v, ref3['state_dict'][k])
               for k, v in ref1['state_dict'].items())  # it trained

    fsdp.mkdir()
    shutil.copy(ddp / 'iter_1.pth', fsdp / 'from_ddp.pth')
    log = train2(fsdp, 3, *FSDP, resume=fsdp / 'from_ddp.pth')
    assert 'Iter(train) [2/3]' in log and 'Iter(train) [1/3]' not in log
    # 2 tiny blocks x (student, teacher) + 2 heads + the root
    assert 'MoSiCFSDP: 7 FSDP units' in log, log[-3000:]
    moved = _load(fsdp / 'iter_3.pth')
    # the same files as DDP's: full state dict, index-keyed optimizer
    _assert_close_states(ref3, moved)

    back.mkdir()
    shutil.copy(fsdp / 'iter_2.pth', back / 'from_fsdp.pth')
    log = train2(back, 3, resume=back / 'from_fsdp.pth')
    assert 'Iter(train) [3/3]' in log and 'Iter(train) [2/3]' not in log
    _assert_close_states(ref3, _load(back / 'iter_3.pth'))


def test_the_fsdp_options_are_the_strategy_config():
    """The --cfg-options above are what configs/_base_/strategies/fsdp.py
    sets (so the test trains what the configs train)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'strategies',
                                   'fsdp.py'))
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.strategy == dict(type='PortableFSDPStrategy',
                                model_wrapper=dict(type='MoSiCFSDP'))
