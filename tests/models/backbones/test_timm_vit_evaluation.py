"""TimmViT configs in the frozen-feature evaluation (tools/evaluate.py's
MODEL path, ``mosic_mm.evaluation.features``): a config and an official
file (DINOv3, OpenAI CLIP) or a training checkpoint give the patch
features of timm's model."""
from pathlib import Path

import torch

from mosic_mm.evaluation.features import build_backbone, extract_features

CONFIGS = Path(__file__).resolve().parents[3] / 'configs'
DINOV3 = 'vit_small_patch16_dinov3_qkvb'
CLIP = 'vit_base_patch16_clip_224'


def _features_match_timm(tmp_path, ref, weights, base_config, size,
                         model_kwargs, patch_tokens):
    """Write ``weights`` (a state dict of timm model ``ref``) and a tiny
    config over ``base_config``; building it and extracting features at
    ``size`` px gives ``ref``'s patch features. Returns (config, backbone,
    info, images, features)."""
    path = str(tmp_path / 'weights.pth')
    torch.save(weights, path)
    config = tmp_path / 'tiny_config.py'
    config.write_text(
        f"_base_ = '{base_config}'\nmodel = dict(backbone=dict("
        f"img_size={size}, model_kwargs={model_kwargs!r}, "
        f"init_cfg=dict(checkpoint={path!r})))\n")
    vit, info = build_backbone(str(config), None, 'teacher')
    patch = model_kwargs.get('patch_size', 16)
    assert info['patch_size'] == patch
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(2, size, size, 3, generator=g) * 255).to(
        torch.uint8).numpy()
    feats = torch.from_numpy(extract_features(vit, images, size,
                                              info['mean'], info['std']))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(info['mean']).view(1, 3, 1, 1)) / torch.tensor(
        info['std']).view(1, 3, 1, 1)
    want = patch_tokens(ref, x)
    assert feats.shape[-2:] == (size // patch, size // patch)
    # extract_features resizes (to the same size) and normalises in its
    # own order of operations: float32 rounding
    diff = (feats.flatten(2).transpose(1, 2) - want).abs().max()
    assert diff < 1e-4, diff
    return config, vit, info, images, feats


def test_evaluation_builds_a_dinov3_config_from_the_official_file(
        tmp_path, random_timm, dinov3_file, tiny_timm_kwargs,
        patch_tokens):
    """The config + the official file, then the same backbone exported
    (mmpretrain format) as MODEL: the same features."""
    ref = random_timm(DINOV3)
    config, vit, info, images, feats = _features_match_timm(
        tmp_path, ref, dinov3_file(ref),
        str(CONFIGS / 'mosic_dinov3_vits16_ytvos.py'), 64, tiny_timm_kwargs,
        patch_tokens)
    exported = str(tmp_path / 'exported.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}},
               exported)
    again, _ = build_backbone(str(config), exported, 'student')
    assert torch.equal(torch.from_numpy(extract_features(
        again, images, 64, info['mean'], info['std'])), feats)


def test_evaluation_takes_the_clip_config_and_an_openai_file(
        tmp_path, random_timm, openai_clip_file, tiny_timm_kwargs,
        patch_tokens):
    kwargs = dict(tiny_timm_kwargs, patch_size=14)
    ref = random_timm(CLIP, **kwargs)
    _features_match_timm(tmp_path, ref, openai_clip_file(ref),
                         str(CONFIGS / 'mosic_clip_vits14_ytvos.py'), 56,
                         kwargs, patch_tokens)
