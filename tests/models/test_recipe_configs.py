"""The recipe where the configs decide it: optimizer groups, the trainable
blocks of deep backbones, the clip normalisation, the batch the recipe is
stated for."""
import glob
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mosic_mm.registry import MODELS
from mosic_mm.utils.config import registry_scope

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('config,backbone_lr', [
    ('configs/mosic_vits_ytvos.py', 1e-5),
    ('configs/mosic_vits_synthetic.py', 1e-3),
])
def test_every_trainable_tensor_gets_the_recipe_lr_and_decay(
        config, backbone_lr):
    """AdamW groups: wd 0.01 on weight matrices (prototypes included), 0 on
    biases and every 1-D tensor (LayerNorm, LayerScale); backbone lr 0.1x
    the head's in the YT-VOS recipe."""
    cfg = Config.fromfile(str(REPO / config))
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None
    if 'ytvos' in config:  # ViT-S/14 shape, smaller depth to stay fast
        model_cfg.backbone.type = 'VisionTransformer'
        model_cfg.backbone.arch = dict(embed_dims=48, num_layers=3,
                                       num_heads=3, feedforward_channels=96)
    with registry_scope(cfg):
        model = MODELS.build(model_cfg)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    head_lr = cfg.optim_wrapper.optimizer.lr
    seen = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            seen[id(p)] = (group['lr'], group['weight_decay'])
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable and len(seen) == len(trainable)
    kinds = set()
    for name, p in trainable:
        lr, wd = seen[id(p)]
        expected_lr = backbone_lr if name.startswith('backbone.') \
            else head_lr
        expected_wd = 0.0 if p.ndim == 1 else 0.01
        assert lr == pytest.approx(expected_lr), name
        assert wd == pytest.approx(expected_wd), (name, wd)
        kinds.add((name.startswith('backbone.'), p.ndim == 1))
    assert kinds == {(True, True), (True, False), (False, True),
                     (False, False)}
    assert seen[id(model.head.prototypes)][1] == pytest.approx(0.01)


@pytest.mark.parametrize('cfg_file', [
    'configs/mosic_vitl_ytvos.py', 'configs/mosic_vitl_reg_ytvos.py',
    'configs/mosic_vitg_ytvos.py', 'configs/mosic_dinov3_vitl16_ytvos.py'])
def test_deep_configs_train_their_last_two_blocks(cfg_file):
    """ViT-L/g train their last two blocks (docs/reproduction.md); the
    official name match would train blocks 10 and 11."""
    model = Config.fromfile(str(REPO / cfg_file)).model
    assert model.num_trainable_blocks == 2
    assert model.get('trainable_blocks') is None


def test_ytvos_configs_normalise_with_the_official_std():
    """The official training clips: mean (0.485, 0.456, 0.406), std
    (0.228, 0.224, 0.225) (0.228, not ImageNet's 0.229), x 255."""
    files = sorted(glob.glob(str(REPO / 'configs' / '*_ytvos.py'))
                   + glob.glob(str(REPO / 'configs' / 'baselines' /
                                   '*_ytvos.py')))
    assert len(files) > 10
    for f in files:
        pre = Config.fromfile(f).model.data_preprocessor
        assert pre.mean == pytest.approx((123.675, 116.28, 103.53)), f
        assert pre.std == pytest.approx((58.14, 57.12, 57.375)), f


def test_ytvos_recipe_clips_batch_and_schedule():
    """12 frames 6 apart (the SampleClip step), 8 clips per process of a
    64-clip recipe (BatchScaleHook and auto_scale_lr state it), 8 epochs,
    K = 100 prototypes; the ViT-B config builds with its 768 width."""
    s = Config.fromfile(str(REPO / 'configs' / 'mosic_vits_ytvos.py'))
    sample = s.train_dataloader.dataset.pipeline[0]
    assert (sample.type, sample.clip_len, sample.frame_stride,
            sample.window_step) == ('SampleClip', 12, 6, 12)
    assert {'type': 'BatchScaleHook'} in s.custom_hooks
    assert s.auto_scale_lr.base_batch_size == 64
    assert s.train_dataloader.batch_size == 8
    assert s.train_cfg.max_epochs == 8
    assert s.model.head.num_prototypes == 100
    b = Config.fromfile(str(REPO / 'configs' / 'mosic_vitb_ytvos.py'))
    b.model.backbone.init_cfg = None
    with registry_scope(b):
        assert MODELS.build(b.model).backbone.embed_dims == 768
