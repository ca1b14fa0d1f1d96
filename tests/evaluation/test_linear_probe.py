"""The linear probe (mosic_mm.evaluation.protocols.linear): the mmseg
config it builds from the settings and the model, and the probe trained on
the model's frozen backbone (mmseg Runner, in process)."""
import os.path as osp

import pytest
import torch

from mosic_mm.evaluation.benchmarks import (
    BENCHMARKS,
    benchmark_settings,
    run_benchmark,
)
from mosic_mm.evaluation.features import build_backbone
from mosic_mm.evaluation.protocol import EvalData
from mosic_mm.evaluation.protocols.linear import LinearSettings, linear_config


def _config(name, arch='dinov2-s', s=None, root='/data/x'):
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(arch=arch, img_size=28, patch_size=14)
    b = BENCHMARKS[name]
    bb = dict(type='VisionTransformer', arch=arch, img_size=224,
              patch_size=14, layer_scale_init_value=1e-5)
    info = dict(mean=(1., 2., 3.), std=(4., 5., 6.), img_size=224)
    data = EvalData(b.dataset, root, dict(b.splits), dict(b.reader_args))
    return linear_config(data, vit, info, s or benchmark_settings(name),
                         '/wd', bb, '/wd/backbone.pth')


@pytest.mark.parametrize('arch,width', [('dinov2-s', 's'), ('base', 'b')])
@pytest.mark.parametrize('name', ['voc-linear', 'ade-linear'])
def test_linear_probe_paper_config(name, arch, width):
    """The paper preset runs the repository's NeCo-protocol mmseg config of
    the backbone's width unchanged: 448 px, scored at 100x100, SGD 0.01
    momentum 0.9, 25 epochs, SyncBN, the MODEL's backbone frozen and
    loaded; each probe gets its own logger and visualizer names."""
    cfg = _config(name, arch)
    ds = {'voc-linear': 'voc12aug', 'ade-linear': 'ade20k'}[name]
    assert osp.basename(cfg.filename) == f'linear_vit{width}14_{ds}.py'
    m = cfg.model
    assert m.backbone.type == 'mmpretrain.VisionTransformer'
    assert (m.backbone.img_size, m.backbone.frozen_stages,
            m.backbone.init_cfg.checkpoint, m.backbone.init_cfg.prefix) == (
        448, 12, '/wd/backbone.pth', 'backbone.')
    assert m.decode_head.in_channels == {'s': 384, 'b': 768}[width]
    assert m.decode_head.norm_cfg.type == 'SyncBN'
    assert tuple(m.data_preprocessor.size) == (448, 448)
    assert tuple(m.data_preprocessor.mean) == (1., 2., 3.)
    test = {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test['Resize']['scale'] == (448, 448)
    assert test['ResizeSegMap']['size'] == 100
    assert (cfg.optim_wrapper.optimizer.lr,
            cfg.optim_wrapper.optimizer.momentum) == (0.01, 0.9)
    assert cfg.train_cfg.max_epochs == 25
    assert cfg.train_dataloader.batch_size == 8
    roots = ([d.data_root for d in cfg.train_dataloader.dataset.datasets]
             if name == 'voc-linear'
             else [cfg.train_dataloader.dataset.data_root])
    assert set(roots) == {'/data/x'} == {cfg.val_dataloader.dataset.data_root}
    # one process runs several probes: each Runner gets its own logger and
    # visualizer names (mmengine's default is the time in seconds), also
    # the visualizer seg_runtime.py names (else the second probe would
    # save into the first one's work_dir)
    again = _config(name, arch)
    assert cfg.experiment_name.startswith('linear_' + BENCHMARKS[
        name].dataset)
    assert again.experiment_name != cfg.experiment_name
    assert cfg.visualizer.name == cfg.experiment_name
    assert again.visualizer.name == again.experiment_name


def test_linear_probe_settings_reach_the_mmseg_config():
    """Every setting is written into the config: input and scoring size,
    batch, SGD lr and momentum, epochs (and the cosine schedule's length);
    iters trains that many iterations instead (fast preset, BN)."""
    s = LinearSettings(input_size=42, score_size=50, batch_size=5, lr=0.123,
                       momentum=0.5, epochs=3)
    cfg = _config('ade-linear', s=s)
    assert cfg.model.backbone.img_size == 42
    assert tuple(cfg.model.data_preprocessor.size) == (42, 42)
    test = {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}
    assert (test['Resize']['scale'], test['ResizeSegMap']['size']) == (
        (42, 42), 50)
    assert cfg.train_dataloader.batch_size == 5
    assert (cfg.optim_wrapper.optimizer.lr,
            cfg.optim_wrapper.optimizer.momentum) == (0.123, 0.5)
    assert cfg.train_cfg.max_epochs == 3
    assert [p.T_max for p in cfg.param_scheduler] == [3]
    fast = _config('ade-linear', s=benchmark_settings('ade-linear', 'fast'))
    assert fast.train_cfg.type == 'IterBasedTrainLoop'
    assert fast.train_cfg.max_iters == 20
    assert [p.T_max for p in fast.param_scheduler] == [20]
    assert fast.model.decode_head.norm_cfg.type == 'BN'
    assert fast.model.backbone.img_size == 56
    assert fast.train_dataloader.batch_size == 4
    none = _config('ade-linear', s=LinearSettings(input_size=None))
    assert none.model.backbone.img_size == 224   # the backbone's own
    with pytest.raises(ValueError, match="no mmseg linear config for the "
                       "'davis2017'"):
        linear_config(EvalData('davis2017', '/d', dict(val='val')), None,
                      {}, LinearSettings(), '/wd', {}, '/wd/b.pth')


@pytest.mark.parametrize('name', ['voc-linear', 'ade-linear'])
def test_linear_probe_benchmark_end_to_end_fast(name, tiny_eval_config,
                                                eval_layouts, tmp_path):
    """The mmseg linear config of the benchmark on the model's own frozen
    backbone (synthetic data in the VOC / ADE20K layout): the probe trains,
    the backbone does not change."""
    vit, info = build_backbone(tiny_eval_config)
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    b = BENCHMARKS[name]
    r = run_benchmark(name, vit, info, eval_layouts[b.dataset], 'fast',
                      progress=False, work_dir=str(tmp_path))
    assert tuple(r['metrics']) == ('mIoU', )
    assert 0.0 <= r['metrics']['mIoU'] <= 1.0
    assert any('linear_vits14' in n for n in r['notes'])
    for k, v in vit.state_dict().items():
        assert torch.equal(v, before[k]), k
