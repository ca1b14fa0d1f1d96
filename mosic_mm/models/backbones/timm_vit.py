"""timm ``Eva``-family ViTs (DINOv3, EVA02-CLIP) and CLIP image towers (timm's
pre-norm ``VisionTransformer``, e.g. CLIP ViT-S/14) as MoSiC token backbones.

The blocks, RoPE and norms are timm's own modules (``timm.create_model``,
no download), so the features are timm's by construction; this class adds
strict converted loading
of the official and timm files (:mod:`.convert_eva`) and mmpretrain-style
``featmap`` outputs.

Token layout: ``[cls, storage/register tokens, patches]``;
``num_extra_tokens`` counts all tokens before the patches.
"""
import math
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mosic_mm.registry import MODELS

from ..utils.shared_weights import keep_dtypes_
from ..utils.token_backbone import TokenViT
from .convert_eva import to_timm
from .weight_init import is_converted_cfg


@MODELS.register_module()
class TimmViT(BaseModule):
    """A timm ``Eva`` model (``vit_*_patch16_dinov3_qkvb``,
    ``eva02_base_patch16_clip_224``, ...) as a patch-feature backbone.

    Args:
        model_name (str): timm model name (built with ``pretrained=False``,
            ``num_classes=0``, ``dynamic_img_size=True``).
        img_size (int): training resolution (absolute position embeddings
            are stored at ``img_size // patch``; other sizes are resampled
            at run time as timm does).
        model_kwargs (dict, optional): further ``timm.create_model``
            arguments (e.g. ``embed_dim``/``depth`` for tiny test models).
        out_type (str): only ``'featmap'`` ([B, C, h, w] patch features).
        frozen_stages (int): as mmpretrain's ViT: n > 0 freezes (and keeps
            in eval mode) the patch embedding, prefix tokens, position
            embedding and the first n blocks, n = depth also the final norm
            (linear probes). Defaults to 0.
        init_cfg (dict, optional): None (timm's initialisation) or
            ``dict(type='ConvertedPretrained', checkpoint=..., layout=
            'auto'|'dinov3'|'timm'|'open_clip'|'openai_clip'|'native')``.
    """

    def __init__(self, model_name: str, img_size: int = 224,
                 model_kwargs: Optional[dict] = None,
                 out_type: str = 'featmap',
                 frozen_stages: int = 0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if out_type != 'featmap':
            raise ValueError(f"TimmViT gives out_type='featmap' only, got "
                             f'{out_type!r}')
        import timm
        kwargs = dict(pretrained=False, num_classes=0, img_size=img_size,
                      dynamic_img_size=True)
        kwargs.update(model_kwargs or {})
        if kwargs['pretrained']:
            raise ValueError('TimmViT never downloads: load weights with '
                             "init_cfg=dict(type='ConvertedPretrained', ...)")
        self.model = timm.create_model(model_name, **kwargs)
        clip_vit = isinstance(getattr(self.model, 'norm_pre', None),
                              nn.LayerNorm)  # CLIP's ln_pre (pre_norm=True)
        if not (hasattr(self.model, 'rope') or clip_vit) or not hasattr(
                self.model, 'reg_token'):
            raise TypeError(f'{model_name!r} is neither a timm Eva-family '
                            'model (DINOv3, EVA02) nor a CLIP image tower '
                            '(pre-norm timm ViT); DINOv2 / DINO / plain ViTs '
                            "use type='DINOVisionTransformer'")
        rope = getattr(self.model, 'rope', None)
        if rope is not None and isinstance(getattr(rope, 'periods', None),
                                           Tensor):
            # keep the RoPE periods used in checkpoints (the official DINOv3
            # files store them; the teacher copy must get them too)
            rope.register_buffer('periods', rope.periods, persistent=True)
        self.model_name = model_name
        self.out_type = out_type
        self.embed_dims = self.model.embed_dim
        self.num_extra_tokens = self.model.num_prefix_tokens
        patch = tuple(self.model.patch_embed.patch_size)
        if patch[0] != patch[1]:
            raise ValueError(f'non-square patches {patch} are not supported')
        self.patch_size = int(patch[0])
        self.patch_resolution = tuple(self.model.patch_embed.grid_size)
        if frozen_stages > len(self.model.blocks):
            raise ValueError(f'frozen_stages={frozen_stages} > '
                             f'{len(self.model.blocks)} blocks')
        self.frozen_stages = frozen_stages
        self._freeze_stages()

    def _frozen_modules(self) -> List[nn.Module]:
        n, m = self.frozen_stages, self.model
        if n <= 0:
            return []
        mods = [m.patch_embed, m.norm_pre, *m.blocks[:n]]
        return mods + ([m.norm] if n == len(m.blocks) else [])

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            module.requires_grad_(False)
        if self.frozen_stages > 0:
            for name in ('cls_token', 'reg_token', 'pos_embed'):
                param = getattr(self.model, name, None)
                if isinstance(param, nn.Parameter):
                    param.requires_grad_(False)

    def train(self, mode: bool = True) -> 'TimmViT':
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer blocks (MoSiC trains the last ones)."""
        return self.model.blocks

    # ----------------------------------------------------------- forward
    def forward(self, x: Tensor) -> Tuple[Tensor]:
        """Images [B,3,H,W] -> (patch features [B, C, h, w],)."""
        return (TokenViT(self).features(x), )

    # ------------------------------------------------------------ weights
    def convert_checkpoint(self, state_dict: Dict[str, Tensor],
                           layout: str = 'auto'
                           ) -> Tuple[str, Dict[str, Tensor], List[str],
                                      Optional[tuple]]:
        """A checkpoint in any layout of :mod:`.convert_eva` -> (layout, our
        state dict, dropped keys, resampled grids or None).

        The RoPE periods come from the file when it has them (the official
        DINOv3 files store bf16-rounded periods, which the official model
        uses); they must equal this model's within bf16 rounding. Otherwise
        they are computed (timm). A pos_embed on another grid is resampled
        as timm's loader does (bicubic, antialiased).
        """
        from timm.layers import resample_abs_pos_embed
        layout, sd, dropped, periods = to_timm(state_dict, layout)
        resampled = None
        pos, own = sd.get('pos_embed'), self.model.pos_embed
        if pos is not None and own is not None and pos.shape != own.shape \
                and pos.shape[-1] == own.shape[-1]:
            prefix = 0 if self.model.no_embed_class else self.num_extra_tokens
            n = pos.shape[1] - prefix
            side = int(round(n**0.5))
            if side * side == n:
                sd['pos_embed'] = resample_abs_pos_embed(
                    pos, new_size=self.patch_resolution, old_size=(side, side),
                    num_prefix_tokens=prefix)
                resampled = ((side, side), self.patch_resolution)
        rope = getattr(self.model, 'rope', None)
        if isinstance(getattr(rope, 'periods', None), Tensor):
            own = rope._compute_periods(device='cpu')
            if periods is None:
                periods = own
            elif periods.shape != own.shape or (
                    not periods.is_meta and not torch.allclose(
                        periods.float().cpu(), own, rtol=1e-2, atol=0)):
                raise ValueError(
                    f'RoPE periods of the checkpoint {tuple(periods.shape)} '
                    f'do not match this model ({tuple(own.shape)}, base '
                    f'{getattr(rope, "temperature", None)}): another RoPE '
                    'configuration')
            sd['rope.periods'] = periods.float()
        elif periods is not None:
            dropped.append('rope_embed.periods (model has no such RoPE)')
        return layout, {f'model.{k}': v for k, v in sd.items()}, dropped, \
            resampled

    def init_weights(self) -> None:
        """timm initialised the weights at construction; a
        ``ConvertedPretrained`` init_cfg loads the file (strict)."""
        from mmengine.registry import WEIGHT_INITIALIZERS
        cfgs = self.init_cfg or []
        cfgs = [cfgs] if isinstance(cfgs, dict) else list(cfgs)
        for cfg in cfgs:
            if not is_converted_cfg(cfg):
                raise ValueError(
                    "TimmViT takes init_cfg=None or dict(type="
                    f"'ConvertedPretrained', ...), got {cfg}")
            WEIGHT_INITIALIZERS.build(dict(cfg)).load(self)
        self._is_init = True

    @torch.no_grad()
    def materialize_(self, dtype_of: Callable[[nn.Parameter], torch.dtype],
                     device='cpu') -> None:
        """Allocate and initialise a model built on the meta device, each
        parameter kept in ``dtype_of(param)``.

        An Eva model (DINOv3, EVA02) is initialised as timm's
        ``Eva.init_weights`` does (``reset_parameters`` of every module,
        buffers included; trunc-normal linears and tokens; the depth
        rescale of ``attn.proj`` / ``mlp.fc2``), one block at a time in
        fp32 and cast before the next, so at most one block exists in fp32.
        Other timm models (CLIP towers) are materialised whole in fp32, run
        timm's ``init_weights`` and are cast.
        """
        from timm.layers import trunc_normal_
        m = self.model

        def keep(module: nn.Module, recurse: bool = True) -> None:
            keep_dtypes_(module, dtype_of, recurse)

        if not hasattr(m, 'fix_init_weight'):  # not an Eva: timm's own init
            self.to_empty(device=device)
            m.init_weights()
            keep(self)
            return
        init = partial(m._init_weights, needs_reset=True)
        outside = [mod for name, mod in self.named_modules()
                   if not name.startswith('model.blocks.')
                   and name != 'model.blocks']
        for module in outside:
            module.to_empty(device=device, recurse=False)
        for module in outside:
            if module is not m and module is not self:
                init(module)
        for name in ('pos_embed', 'cls_token', 'reg_token'):
            if getattr(m, name, None) is not None:
                trunc_normal_(getattr(m, name), std=.02)
        for module in outside:
            keep(module, recurse=False)
        for i, block in enumerate(m.blocks):
            block.to_empty(device=device)
            block.apply(init)
            scale = math.sqrt(2.0 * (i + 1))  # Eva.fix_init_weight
            block.attn.proj.weight.div_(scale)
            block.mlp.fc2.weight.div_(scale)
            keep(block)
