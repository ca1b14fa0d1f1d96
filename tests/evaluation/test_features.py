"""Frozen backbones and their patch features (mosic_mm.evaluation.features):
checkpoint errors, the paper backbones recognised, input sizes, and the
extraction sharded over ranks."""
import os.path as osp

import numpy as np
import pytest
import torch

from mosic_mm.evaluation.features import (
    build_backbone,
    detect_arch,
    extract_features,
    shard_range,
)


def _tiny_vit():
    """A 32-dim mmpretrain ViT/14 at 28 px (2x2 tokens), seed 0."""
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(embed_dims=32, num_layers=2,
                                      num_heads=2, feedforward_channels=64),
                            img_size=28, patch_size=14, out_type='featmap')
    vit.eval()
    return vit


def _images(n=5):
    return np.random.default_rng(0).integers(0, 255, (n, 30, 34, 3),
                                             dtype=np.uint8)


def test_backbone_file_errors(synthetic_config, tmp_path):
    path = str(tmp_path / 'student_only.pth')
    torch.save({'state_dict': {'backbone.x': torch.zeros(1)}}, path)
    with pytest.raises(KeyError, match='teacher.backbone.'):
        build_backbone(synthetic_config, path, which='teacher')
    with pytest.raises(KeyError, match='missing'):
        build_backbone(synthetic_config, path)
    with pytest.raises(ValueError, match='--config'):
        build_backbone(None, path)


def test_arch_detection(tiny_arch):
    """The paper's backbones (ViT-S/14, ViT-B/14) by width and patch; any
    other has no reference."""
    from mmpretrain.models import VisionTransformer
    s14 = VisionTransformer(arch='dinov2-s', img_size=28, patch_size=14)
    b14 = VisionTransformer(arch='base', img_size=28, patch_size=14)
    s16 = VisionTransformer(arch='dinov2-s', img_size=32, patch_size=16)
    tiny = VisionTransformer(arch=tiny_arch, img_size=28, patch_size=14)
    assert [detect_arch(v) for v in (s14, b14, s16, tiny)] == [
        'ViT-S/14', 'ViT-B/14', None, None]


def test_non_square_input():
    vit = _tiny_vit()
    f = extract_features(vit, _images(2), (28, 42), (0, 0, 0), (1, 1, 1))
    assert f.shape == (2, 32, 2, 3)
    with pytest.raises(ValueError, match='multiple of the patch'):
        extract_features(vit, _images(2), (28, 40), (0, 0, 0), (1, 1, 1))


@pytest.mark.parametrize('n,ws', [(7, 2), (1, 2), (5, 3), (6, 1)])
def test_shard_range_contiguous_cover(n, ws):
    shards = [shard_range(n, r, ws) for r in range(ws)]
    assert [i for s in shards for i in s] == list(range(n))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def _rank_features(rank, out_dir):
    f = extract_features(_tiny_vit(), _images(), 28, (0, 0, 0),
                         (255, 255, 255), batch_size=2, distributed=True)
    np.save(osp.join(out_dir, f'rank{rank}.npy'), f)


@pytest.mark.slow
def test_two_rank_extraction_equals_one_process(tmp_path, spawn_gloo,
                                                same_run):
    """5 images on 2 gloo ranks (shards 3 / 2), gathered: every rank holds
    the single-process features, in order."""
    spawn_gloo(_rank_features, tmp_path)
    single = extract_features(_tiny_vit(), _images(), 28, (0, 0, 0),
                              (255, 255, 255), batch_size=2)
    assert single.shape == (5, 32, 2, 2)
    for r in range(2):
        got = torch.from_numpy(np.load(tmp_path / f'rank{r}.npy'))
        same_run({}, {}, dict(features=got),
                 dict(features=torch.from_numpy(single)))
