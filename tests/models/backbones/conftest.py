"""Fixtures of the backbone tests: tiny timm reference models with random
weights, our backbones of the same architecture, the official file layouts
written from the official model definitions, and patch features.

Families: DINOv2 / DINO (timm's ``VisionTransformer`` against our
``DINOVisionTransformer``; ``dino_kinds``) and timm's Eva family and CLIP
towers (DINOv3, EVA02, CLIP ViT against our ``TimmViT``; 32 wide, 2
blocks, 64 px)."""
import pytest

# kind -> (patch, registers, layer scale, swiglu); width 32, depth 2
_DINO_KINDS = dict(dinov2=(14, 0, True, False),
                   dinov2_reg=(14, 4, True, False),
                   dinov2_g=(14, 0, True, True),
                   dinov2_g_reg=(14, 4, True, True),
                   dino=(16, 0, False, False))
_C, _DEPTH, _HEADS = 32, 2, 2
#: the tiny Eva / CLIP shape (timm ``create_model`` kwargs)
_TINY_TIMM = dict(embed_dim=32, depth=2, num_heads=2)


# ------------------------------------------------------------ DINOv2 / DINO
@pytest.fixture
def dino_kinds() -> dict:
    """kind -> (patch, registers, layer scale, swiglu) of the DINOv2 / DINO
    architectures the tests build (32 wide, 2 blocks, 2 heads)."""
    return dict(_DINO_KINDS)


@pytest.fixture
def timm_dino_vit():
    """``timm_dino_vit(kind, grid=4, dynamic=False)``: timm's
    ``VisionTransformer`` with a DINOv2 / DINO architecture at ``grid``
    patches a side, random weights far from the identity-like init, eval
    mode (seed 0: two calls give the same model)."""
    def make(kind: str, grid: int = 4, dynamic: bool = False):
        import torch
        from timm.layers import SwiGLUPacked
        from timm.models.vision_transformer import VisionTransformer
        patch, reg, ls, swiglu = _DINO_KINDS[kind]
        torch.manual_seed(0)
        extra = dict(mlp_layer=SwiGLUPacked, act_layer=torch.nn.SiLU) \
            if swiglu else {}
        model = VisionTransformer(
            img_size=grid * patch, patch_size=patch, embed_dim=_C,
            depth=_DEPTH, num_heads=_HEADS, mlp_ratio=4,
            init_values=1e-5 if ls else None, reg_tokens=reg,
            no_embed_class=reg > 0, num_classes=0, dynamic_img_size=dynamic,
            **extra)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.normal_(1.0 if 'norm' in name and name.endswith('weight')
                          else 0.0, 0.3)
        return model.eval()
    return make


@pytest.fixture
def dino_vit():
    """``dino_vit(kind, grid=4, **kwargs)``: our ``DINOVisionTransformer``
    of that architecture (default init, eval mode)."""
    def make(kind: str, grid: int = 4, **kw):
        from mosic_mm.models.backbones import DINOVisionTransformer
        patch, reg, ls, swiglu = _DINO_KINDS[kind]
        vit = DINOVisionTransformer(
            arch=dict(embed_dims=_C, num_layers=_DEPTH, num_heads=_HEADS,
                      feedforward_channels=4 * _C * 3 // 4 if swiglu
                      else 4 * _C),
            img_size=grid * patch, patch_size=patch, out_type='featmap',
            layer_scale_init_value=1e-5 if ls else 0.,
            num_register_tokens=reg,
            layer_cfgs=dict(ffn_type='swiglu_fused') if swiglu else dict(),
            **kw)
        vit.eval()
        return vit
    return make


@pytest.fixture
def official_dino_file():
    """``official_dino_file(timm_state_dict, kind)``: the official DINOv2 /
    DINO file layout, reconstructed from timm's (the inverse of timm's
    ``_convert_dinov2``: cls position split out of ``cls_token``, SwiGLU
    ``w12``/``w3``, a ``mask_token``)."""
    def official(timm_sd: dict, kind: str) -> dict:
        import torch
        sd = dict(timm_sd)
        if kind == 'dino':
            return sd  # DINO v1 uses timm's names
        g = torch.Generator().manual_seed(1)
        if 'reg_token' in sd:  # timm folds the cls position into cls_token
            p0 = torch.randn(1, 1, _C, generator=g)
            sd['register_tokens'] = sd.pop('reg_token')
            sd['cls_token'] = sd['cls_token'] - p0
            sd['pos_embed'] = torch.cat([p0, sd['pos_embed']], dim=1)
        for key in list(sd):
            if _DINO_KINDS[kind][3] and '.mlp.fc' in key:
                sd[key.replace('mlp.fc1', 'mlp.w12').replace(
                    'mlp.fc2', 'mlp.w3')] = sd.pop(key)
        sd['mask_token'] = torch.randn(1, _C, generator=g)
        return sd
    return official


@pytest.fixture
def dinov2_file_shapes():
    """``dinov2_file_shapes(C, depth, hidden, *, patch=14, grid=37,
    registers=0, layer_scale=True, swiglu=False, mask_token=True)``: keys
    and shapes of the official DINOv2 / DINO backbone files, written from
    the facebookresearch/dinov2 and /dino model definitions."""
    def shapes_of(C, depth, hidden, *, patch=14, grid=37, registers=0,
                  layer_scale=True, swiglu=False, mask_token=True) -> dict:
        shapes = {'cls_token': (1, 1, C),
                  'pos_embed': (1, 1 + grid * grid, C),
                  'patch_embed.proj.weight': (C, 3, patch, patch),
                  'patch_embed.proj.bias': (C, ), 'norm.weight': (C, ),
                  'norm.bias': (C, )}
        if mask_token:
            shapes['mask_token'] = (1, C)
        if registers:
            shapes['register_tokens'] = (1, registers, C)
        for i in range(depth):
            b = f'blocks.{i}.'
            for norm in ('norm1', 'norm2'):
                shapes.update({f'{b}{norm}.weight': (C, ),
                               f'{b}{norm}.bias': (C, )})
            shapes.update({f'{b}attn.qkv.weight': (3 * C, C),
                           f'{b}attn.qkv.bias': (3 * C, ),
                           f'{b}attn.proj.weight': (C, C),
                           f'{b}attn.proj.bias': (C, )})
            if layer_scale:
                shapes.update({f'{b}ls1.gamma': (C, ),
                               f'{b}ls2.gamma': (C, )})
            mlp = (('w12', 2 * hidden), ('w3', C)) if swiglu else (
                ('fc1', hidden), ('fc2', C))
            (first, width), (second, out) = mlp
            shapes.update({f'{b}mlp.{first}.weight': (width, C),
                           f'{b}mlp.{first}.bias': (width, ),
                           f'{b}mlp.{second}.weight': (out, hidden),
                           f'{b}mlp.{second}.bias': (out, )})
        return shapes
    return shapes_of


@pytest.fixture
def patch_tokens():
    """``patch_tokens(net, x)``: [B, h*w, C] patch tokens after the final
    norm, no grad, of timm's model (``forward_features``) or of ours (the
    last ``featmap`` output)."""
    def tokens(net, x):
        import torch
        with torch.no_grad():
            if hasattr(net, 'forward_features'):  # timm
                return net.forward_features(x)[:, net.num_prefix_tokens:]
            return net(x)[-1].flatten(2).transpose(1, 2)
    return tokens


# ------------------------------------------------ Eva family / CLIP towers
@pytest.fixture
def tiny_timm_kwargs() -> dict:
    """The tiny Eva / CLIP shape: ``timm.create_model`` kwargs (32 wide,
    2 blocks, 2 heads)."""
    return dict(_TINY_TIMM)


@pytest.fixture
def random_timm():
    """``random_timm(name, seed=0, **kwargs)``: a tiny timm model (64 px,
    dynamic image size) whose every tensor is non-trivial (LayerScale, q/v
    biases and norms perturbed away from their init), eval mode."""
    def make(name: str, seed: int = 0, **kw):
        import timm
        import torch
        torch.manual_seed(seed)
        model = timm.create_model(name, pretrained=False, num_classes=0,
                                  img_size=64, dynamic_img_size=True,
                                  **dict(_TINY_TIMM, **kw))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.2 * torch.randn_like(p))
        return model.eval()
    return make


@pytest.fixture
def timm_backbone():
    """``timm_backbone(name, **model_kwargs)``: our tiny ``TimmViT`` of
    that timm model at 64 px (timm's init), eval mode."""
    def make(name: str, **kw):
        from mosic_mm.models.backbones import TimmViT
        return TimmViT(name, img_size=64,
                       model_kwargs=dict(_TINY_TIMM, **kw)).eval()
    return make


@pytest.fixture
def dinov3_file():
    """``dinov3_file(timm_model)``: its weights in the official DINOv3 file
    layout (our ``timm_to_dinov3`` with the model's RoPE periods)."""
    def official(model) -> dict:
        from mosic_mm.models.backbones import timm_to_dinov3
        return timm_to_dinov3(model.state_dict(), model.rope.periods)
    return official


@pytest.fixture
def open_clip_file():
    """``open_clip_file(timm_model)``: an open_clip checkpoint with that
    model as its timm trunk (``visual.trunk.*``) and text-tower keys."""
    def file(model) -> dict:
        import torch
        sd = {f'visual.trunk.{k}': v for k, v in model.state_dict().items()}
        sd['text.token_embedding.weight'] = torch.zeros(3, 4)
        sd['logit_scale'] = torch.ones(())
        return sd
    return file


@pytest.fixture
def openai_clip_file():
    """``openai_clip_file(timm_clip_tower)``: a full OpenAI / open_clip
    layout file of that CLIP tower (``visual.*``, a projection and
    text-tower keys)."""
    def file(model) -> dict:
        import torch

        from mosic_mm.models.backbones import timm_to_openai_clip
        sd = timm_to_openai_clip(model.state_dict())
        g = torch.Generator().manual_seed(3)
        sd['visual.proj'] = torch.randn(model.embed_dim, 8, generator=g)
        sd['token_embedding.weight'] = torch.zeros(5, 8)
        sd['transformer.resblocks.0.ln_1.weight'] = torch.zeros(8)
        sd['logit_scale'] = torch.ones(())
        return sd
    return file


@pytest.fixture
def dinov3_file_shapes():
    """``dinov3_file_shapes(C, depth, hidden, heads, registers=4,
    patch=16, swiglu=False, qkv_bias=True, local_cls_norm=False)``: keys
    and shapes of an official DINOv3 backbone file, written from the
    facebookresearch/dinov3 model definition (SwiGLU: ``mlp.w1/w2/w3`` of
    width ``hidden``; ViT-7B: no qkv bias and an untied
    ``local_cls_norm``)."""
    def shapes_of(C, depth, hidden, heads, registers=4, patch=16,
                  swiglu=False, qkv_bias=True,
                  local_cls_norm=False) -> dict:
        shapes = {'cls_token': (1, 1, C),
                  'storage_tokens': (1, registers, C), 'mask_token': (1, C),
                  'patch_embed.proj.weight': (C, 3, patch, patch),
                  'patch_embed.proj.bias': (C, ),
                  'rope_embed.periods': (C // heads // 4, ),
                  'norm.weight': (C, ), 'norm.bias': (C, )}
        for i in range(depth):
            b = f'blocks.{i}.'
            shapes.update({
                f'{b}norm1.weight': (C, ), f'{b}norm1.bias': (C, ),
                f'{b}norm2.weight': (C, ), f'{b}norm2.bias': (C, ),
                f'{b}attn.qkv.weight': (3 * C, C),
                f'{b}attn.qkv.bias': (3 * C, ),
                f'{b}attn.qkv.bias_mask': (3 * C, ),
                f'{b}attn.proj.weight': (C, C), f'{b}attn.proj.bias': (C, ),
                f'{b}ls1.gamma': (C, ), f'{b}ls2.gamma': (C, ),
                f'{b}mlp.fc1.weight': (hidden, C),
                f'{b}mlp.fc1.bias': (hidden, ),
                f'{b}mlp.fc2.weight': (C, hidden),
                f'{b}mlp.fc2.bias': (C, )})
            if swiglu:
                for k in ('fc1.weight', 'fc1.bias', 'fc2.weight',
                          'fc2.bias'):
                    del shapes[f'{b}mlp.{k}']
                shapes.update({
                    f'{b}mlp.w1.weight': (hidden, C),
                    f'{b}mlp.w1.bias': (hidden, ),
                    f'{b}mlp.w2.weight': (hidden, C),
                    f'{b}mlp.w2.bias': (hidden, ),
                    f'{b}mlp.w3.weight': (C, hidden),
                    f'{b}mlp.w3.bias': (C, )})
            if not qkv_bias:
                del shapes[f'{b}attn.qkv.bias']
                del shapes[f'{b}attn.qkv.bias_mask']
        if local_cls_norm:
            shapes.update({'local_cls_norm.weight': (C, ),
                           'local_cls_norm.bias': (C, )})
        return shapes
    return shapes_of


@pytest.fixture
def clip_file_shapes():
    """``clip_file_shapes(C, depth, grid, out_dim, patch=14, text=True)``:
    keys and shapes of a CLIP ViT file in OpenAI / open_clip's own layout
    (open_clip ``CLIP`` with a ``VisionTransformer`` image tower), written
    from open_clip's model definition; ``text`` adds text-tower keys."""
    def shapes_of(C, depth, grid, out_dim, patch=14, text=True) -> dict:
        v = 'visual.'
        shapes = {f'{v}class_embedding': (C, ),
                  f'{v}positional_embedding': (1 + grid * grid, C),
                  f'{v}proj': (C, out_dim),
                  f'{v}conv1.weight': (C, 3, patch, patch)}
        for norm in ('ln_pre', 'ln_post'):
            shapes.update({f'{v}{norm}.weight': (C, ),
                           f'{v}{norm}.bias': (C, )})
        for i in range(depth):
            b = f'{v}transformer.resblocks.{i}.'
            shapes.update({
                f'{b}ln_1.weight': (C, ), f'{b}ln_1.bias': (C, ),
                f'{b}attn.in_proj_weight': (3 * C, C),
                f'{b}attn.in_proj_bias': (3 * C, ),
                f'{b}attn.out_proj.weight': (C, C),
                f'{b}attn.out_proj.bias': (C, ),
                f'{b}ln_2.weight': (C, ), f'{b}ln_2.bias': (C, ),
                f'{b}mlp.c_fc.weight': (4 * C, C),
                f'{b}mlp.c_fc.bias': (4 * C, ),
                f'{b}mlp.c_proj.weight': (C, 4 * C),
                f'{b}mlp.c_proj.bias': (C, )})
        if text:  # text tower (OpenAI keys are unprefixed), CLIP scalars
            shapes.update({'token_embedding.weight': (49408, 512),
                           'transformer.resblocks.0.ln_1.weight': (512, ),
                           'text_projection': (512, out_dim),
                           'logit_scale': ()})
        return shapes
    return shapes_of


# ------------------------------------------------------------------ building
@pytest.fixture(autouse=True)
def _mmpretrain_registry_scope():
    """Every test here builds in mmpretrain's registry scope, whatever an
    earlier test left current: an mmseg Runner leaves 'mmseg', in which
    mmcv's layer builders (a ViT's patch embedding) look in mmseg's
    registries and ``MODELS.build(dict(type='MoSiC'))`` finds nothing.
    The previous scope is restored afterwards."""
    import mosic_mm  # noqa: F401 (registers the modules)
    from mosic_mm.utils.config import registry_scope
    with registry_scope():
        yield


@pytest.fixture
def build_on_meta():
    """``build_on_meta(cfg)``: the model of a config (``cfg.model``) on the
    meta device (full-size ViT-g / ViT-L without allocating them)."""
    def build(cfg):
        import torch

        from mosic_mm.registry import MODELS
        with torch.device('meta'):  # and not materialised (frozen_dtype)
            return MODELS.build(dict(cfg.model, materialize=False))
    return build
