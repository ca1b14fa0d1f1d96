"""Steps with a NaN/Inf loss are skipped, counted, logged, and bounded."""
import logging
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mosic_mm.apis import build_train_config
from mosic_mm.engine import SkipNonFiniteOptimWrapper, amp_optim_wrapper_type


class Messages(logging.Handler):

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


class Snapshot(Hook):
    """Student parameters after every iteration."""
    priority = 'LOWEST'

    def __init__(self):
        self.params = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.params.append({n: p.detach().clone() for n, p in
                            runner.model.named_parameters()
                            if p.requires_grad})


@pytest.fixture
def make_runner(synthetic_config, tiny_train_overrides):
    """``make_runner(tmp_path, data_root, max_iters, bad_iters, value,
    **wrapper)``: a tiny run whose loss is multiplied by ``value`` at the
    1-based iterations ``bad_iters``, with a parameter snapshot per
    iteration and its log lines."""
    return lambda *a, **kw: _make_runner(synthetic_config,
                                         tiny_train_overrides, *a, **kw)


def _make_runner(synthetic_config, tiny_train_overrides, tmp_path, data_root,
                 max_iters, bad_iters, value, **wrapper):
    cfg = Config.fromfile(synthetic_config)
    cfg.merge_from_dict(tiny_train_overrides(data_root, max_iters))
    cfg.merge_from_dict({f'optim_wrapper.{k}': v for k, v in wrapper.items()})
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'] != 'MoSiCVisualizationHook']
    runner = Runner.from_cfg(cfg)  # (sets the config's default scope)
    model, loss = runner.model, runner.model.loss

    def forced_loss(inputs, data_samples):
        losses = loss(inputs, data_samples)
        if runner.iter + 1 in bad_iters:  # 1-based iteration
            losses['loss'] = losses['loss'] * value
        return losses

    model.loss = forced_loss
    snapshot = Snapshot()
    runner.register_hook(snapshot)
    messages = Messages()
    runner.logger.addHandler(messages)
    return runner, snapshot, messages.lines


def test_the_default_config_skips_nonfinite_steps(repo, load_tool):
    cfg = Config.fromfile(osp.join(repo, 'configs', 'mosic_vits_ytvos.py'))
    assert cfg.optim_wrapper.type == 'SkipNonFiniteOptimWrapper'
    assert amp_optim_wrapper_type(cfg.optim_wrapper.type) == \
        'SkipNonFiniteAmpOptimWrapper'
    assert amp_optim_wrapper_type('OptimWrapper') == 'AmpOptimWrapper'
    with pytest.raises(ValueError, match='no AMP variant'):
        amp_optim_wrapper_type('ZeroRedundancyOptimizer')
    train = load_tool('train.py')
    args = train.parse_args([osp.join(repo, 'configs',
                                      'mosic_vits_synthetic.py'), '--amp'])
    assert build_train_config(args.config, amp=args.amp).optim_wrapper.type \
        == 'SkipNonFiniteAmpOptimWrapper'


@pytest.mark.slow
def test_nan_and_inf_steps_are_skipped_counted_and_summarised(
        tmp_path, synthetic_root, make_runner):
    runner, snap, log = make_runner(tmp_path, synthetic_root, 6, {2, 4, 5},
                                    float('nan'), max_consecutive_skips=3)
    runner.train()
    wrapper = runner.optim_wrapper
    assert isinstance(wrapper, SkipNonFiniteOptimWrapper)
    assert wrapper.num_skipped == 3
    p = snap.params  # after iterations 1..6
    for skipped in (2, 4, 5):  # parameters untouched by a skipped step
        for n in p[0]:
            a, b = p[skipped - 1][n], p[skipped - 2][n]
            if n.endswith('head.prototypes'):  # renormalised in the forward
                a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
                assert torch.allclose(a, b, atol=1e-6), n
                continue
            assert torch.equal(a, b), n
    for stepped in (3, 6):
        assert any(not torch.equal(p[stepped - 1][n], p[stepped - 2][n])
                   for n in p[0])
    # AdamW stepped 3 times, not 6
    steps = {int(s['step']) for s in wrapper.optimizer.state.values()}
    assert steps == {3}
    warnings = [m for m in log if 'skipped the optimizer step' in m]
    assert len(warnings) == 3 and 'at iteration 4' in warnings[1]
    assert 'max_consecutive_skips=3' in warnings[0]
    assert any('run summary' in m and '3 optimizer steps skipped' in m
               for m in log)
    assert runner.message_hub.get_scalar('train/skipped_steps').current() == 3


def test_training_stops_after_consecutive_nonfinite_steps(
        tmp_path, synthetic_root, make_runner):
    runner, _, log = make_runner(tmp_path, synthetic_root, 8,
                                 set(range(3, 9)), float('inf'),
                                 max_consecutive_skips=2)
    with pytest.raises(FloatingPointError,
                       match=r'iteration 4: 2 consecutive and 2 total.*'
                       r'max_consecutive_skips=2'):
        runner.train()

    runner, _, _ = make_runner(tmp_path / 't', synthetic_root, 8, {2, 4, 6},
                               float('nan'), max_consecutive_skips=5,
                               max_total_skips=3)
    with pytest.raises(FloatingPointError, match='max_total_skips=3'):
        runner.train()
    assert runner.iter == 5


def test_amp_variant_skips_too(monkeypatch):
    """The mixin on AmpOptimWrapper (CPU: the grad scaler is disabled)."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper

    from mosic_mm.engine import SkipNonFiniteAmpOptimWrapper
    if not torch.cuda.is_available():
        monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                            lambda: True)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = torch.nn.Linear(4, 1).to(device)
    wrapper = SkipNonFiniteAmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        max_consecutive_skips=2)
    x = torch.randn(8, 4, device=device)
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = model(x).sum() * float('nan')
    wrapper.update_params(loss)
    assert torch.equal(model.weight, before) and model.weight.grad is None
    with wrapper.optim_context(model):
        loss = model(x).float().pow(2).mean()
    wrapper.update_params(loss)
    assert not torch.equal(model.weight, before)
    assert wrapper.num_skipped == 1 and wrapper.num_consecutive_skipped == 0
    state = wrapper.state_dict()
    assert state['num_skipped_nonfinite'] == 1 and 'loss_scaler' in state
    wrapper.num_skipped = 0
    wrapper.load_state_dict(state)
    assert wrapper.num_skipped == 1
