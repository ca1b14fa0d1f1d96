"""mmpretrain's ``VisionTransformer`` with DINOv2 register tokens and
converted-checkpoint loading.

Token layout: ``[cls, r_1..r_R, patches]``. As in DINOv2 (Darcet et al.,
"Vision Transformers Need Registers"), ``pos_embed`` covers cls + patches only
and the registers are inserted after the position embedding is added.
``num_extra_tokens`` counts cls + registers, so everything that strips extra
tokens (``_format_output``, ``mosic_mm.models.utils.token_backbone``) drops
both.
With ``num_register_tokens=0`` the module is a drop-in ``VisionTransformer``
(same parameters, same keys, same outputs).
"""
from typing import List, Tuple

import numpy as np
import torch
from mmengine.logging import MMLogger
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed, to_2tuple
from torch import Tensor, nn

from mosic_mm.registry import MODELS

from ..utils.token_backbone import TokenViT
from .weight_init import is_converted_cfg


@MODELS.register_module()
class DINOVisionTransformer(VisionTransformer):
    """``VisionTransformer`` + register tokens + ``ConvertedPretrained`` init.

    Args:
        num_register_tokens (int): learnable register tokens R (DINOv2 reg
            models use 4). Defaults to 0.
        **kwargs: :class:`mmpretrain.models.VisionTransformer` arguments,
            e.g. ``arch``, ``patch_size``, ``layer_scale_init_value``,
            ``layer_cfgs=dict(ffn_type='swiglu_fused')`` (DINOv2 ViT-g).

    ``init_cfg`` may hold ``dict(type='ConvertedPretrained', checkpoint=...,
    layout='auto')`` (see :mod:`mosic_mm.models.backbones.weight_init`). It is
    applied after the default initialisation (mmengine applies initialisers
    other than 'Pretrained' *before* the submodules' own ``init_weights``,
    which would overwrite the loaded weights on a plain VisionTransformer).
    """

    def __init__(self, *args, num_register_tokens: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if num_register_tokens < 0:
            raise ValueError(f'num_register_tokens={num_register_tokens} < 0')
        self.num_register_tokens = num_register_tokens
        # tokens that pos_embed covers (cls), then all extra tokens
        self.num_pos_extra_tokens = self.num_extra_tokens
        if num_register_tokens:
            self.register_tokens = nn.Parameter(
                torch.zeros(1, num_register_tokens, self.embed_dims))
            nn.init.normal_(self.register_tokens, std=1e-6)  # as DINOv2
            self.num_extra_tokens = (self.num_pos_extra_tokens +
                                     num_register_tokens)
        else:
            self.register_tokens = None
        if self.frozen_stages > 0:  # the parent froze before registers existed
            self._freeze_stages()

    # ----------------------------------------------------------- forward
    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Same outputs as ``VisionTransformer.forward``."""
        x, hw = TokenViT(self).embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, hw))
        return tuple(outs)

    # ------------------------------------------------------------ weights
    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        """Resize a checkpoint's pos_embed [1, E'+h'*w', C] (E' = cls only)
        to this model's grid when loading a state dict in our own layout."""
        name = prefix + 'pos_embed'
        if name not in state_dict or \
                state_dict[name].shape == self.pos_embed.shape:
            return
        length = state_dict[name].shape[1] - self.num_pos_extra_tokens
        side = int(round(np.sqrt(length)))
        if side * side != length:
            return  # not a square grid: load_state_dict reports the mismatch
        MMLogger.get_current_instance().info(
            f'Resize pos_embed {tuple(state_dict[name].shape)} -> '
            f'{tuple(self.pos_embed.shape)}')
        state_dict[name] = resize_pos_embed(
            state_dict[name], to_2tuple(side), self.patch_resolution,
            self.interpolate_mode, self.num_pos_extra_tokens)

    def init_weights(self) -> None:
        """Default init, then any ``ConvertedPretrained`` init_cfg last."""
        cfgs: List[dict] = []
        if isinstance(self.init_cfg, dict):
            cfgs = [self.init_cfg]
        elif isinstance(self.init_cfg, (list, tuple)):
            cfgs = list(self.init_cfg)
        converted = [c for c in cfgs if is_converted_cfg(c)]
        if not converted:
            super().init_weights()
            return
        others = [c for c in cfgs if not is_converted_cfg(c)]
        original = self.init_cfg
        self.init_cfg = (others[0] if len(others) == 1 else others) or None
        try:
            super().init_weights()
        finally:
            self.init_cfg = original
        from mmengine.registry import WEIGHT_INITIALIZERS
        for cfg in converted:
            WEIGHT_INITIALIZERS.build(dict(cfg)).load(self)

    def _freeze_stages(self) -> None:
        """As ``VisionTransformer`` (``frozen_stages``), registers included."""
        super()._freeze_stages()
        if getattr(self, 'register_tokens', None) is not None:
            self.register_tokens.requires_grad = False

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """As ``VisionTransformer``; register tokens sit at depth 0."""
        if param_name == prefix + 'register_tokens':
            return 0, self.num_layers + 2
        return super().get_layer_depth(param_name, prefix)

