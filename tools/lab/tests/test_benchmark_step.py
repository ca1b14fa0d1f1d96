"""Reference mode computes the same maths as ours; the benchmark tool runs."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mosic_mm.registry import MODELS
from tools.lab import REPO
from tools.lab.lib.reference_loss import reference_loss

SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')


@pytest.mark.parametrize('trainable', [None, 1])
def test_reference_mode_gives_our_loss_and_gradients(trainable, tiny_model_cfg,
                                                     clip_batch):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(num_trainable_blocks=trainable))
    model.init_weights()
    model.train()
    batch = clip_batch(B=2, T=3, N=6)
    for s in batch['data_samples']:  # integer pixels: the reference rounds
        s.tracks = s.tracks.round()
    data = model.data_preprocessor(batch, True)
    ours = model.loss(**data)
    ours['loss'].backward()
    grads = {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    model.zero_grad()

    samples = data['data_samples']
    ref = reference_loss(model, data['inputs'],
                         torch.stack([s.tracks for s in samples]),
                         torch.stack([s.visibility for s in samples]))
    ref['loss'].backward()
    assert torch.allclose(ours['loss'], ref['loss'], atol=1e-6)
    assert grads
    for n, p in model.named_parameters():
        if n in grads:
            assert torch.allclose(grads[n], p.grad, atol=1e-6, rtol=1e-4), n


@pytest.mark.slow
def test_benchmark_tool_prints_both_modes_and_ratios(tmp_path):
    out = tmp_path / 'bench.json'
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'lab', 'benchmark_step.py'), SYNTHETIC_CONFIG,
        '--mode', 'both', '--iters', '1', '--warmup', '0', '--batch', '1',
        '--frames', '3', '--points', '16', '--size', '56', '--out',
        str(out), '--cfg-options', 'model.backbone.arch.num_layers=2',
        'model.backbone.img_size=56'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'ratios (reference / ours)' in proc.stdout
    results = json.loads(out.read_text())
    assert [r['mode'] for r in results] == ['ours', 'reference']
    ours, ref = results
    assert ref['breakdown_s']['tracking'] > 0 == ours['breakdown_s']['tracking']
    assert ours['gflop_per_iter'] < ref['gflop_per_iter']
    assert ours['losses'][0] == pytest.approx(ref['losses'][0], rel=0.2)
