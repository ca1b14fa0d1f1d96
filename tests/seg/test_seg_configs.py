"""The mmsegmentation benchmark configs (configs/benchmarks/mmseg) parse:
an mmpretrain ViT backbone loaded with the 'backbone.' prefix, a head as
wide as it, frozen for the linear probes and trained for fine-tuning."""
import glob
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_DIR = osp.join(REPO, 'configs', 'benchmarks', 'mmseg')


@pytest.mark.parametrize('path', sorted(
    glob.glob(osp.join(SEG_DIR, '*.py'))
    + glob.glob(osp.join(SEG_DIR, 'dinov3', '*.py'))), ids=osp.basename)
def test_mmseg_benchmark_configs_parse(path):
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert 'mosic_mm.seg' in cfg.custom_imports.imports
    bb = cfg.model.backbone
    assert bb.init_cfg.prefix == 'backbone.'
    if osp.basename(osp.dirname(path)) == 'dinov3':
        return
    assert bb.type == 'mmpretrain.VisionTransformer'
    width = {'dinov2-s': 384, 'base': 768}.get(bb.arch) if isinstance(
        bb.arch, str) else bb.arch['embed_dims']
    assert cfg.model.decode_head.in_channels == width
    if 'linear' in osp.basename(path):
        depth = 12 if isinstance(bb.arch, str) else bb.arch['num_layers']
        assert bb.frozen_stages == depth
    else:
        assert 'finetune' in osp.basename(path)
        assert bb.frozen_stages == -1
        assert cfg.model.test_cfg.mode == 'slide'
