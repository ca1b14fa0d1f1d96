"""LoRA adapters on a frozen backbone (through peft), and their merge.

The official MoSiC wraps its DINOv2 in peft's LoRA with r=8, alpha=32,
dropout 0.1 and ``target_modules=["qkv", "proj", "mlp.fc1", "mlp.fc2"]``.
peft matches a target to every module whose name ends with it, so on the
official DINOv2 ``"proj"`` adapts both ``attn.proj`` and the patch
embedding's ``patch_embed.proj`` (a Conv2d). Our backbones name these
modules differently (mmpretrain: ``attn.qkv``, ``ffn.layers.0.0``,
``patch_embed.projection``; timm SwiGLU: ``mlp.fc1_g`` / ``mlp.fc1_x``), so
a target here is a *role*, resolved per backbone by :data:`LORA_ROLES`.

An adapted linear map computes ``W x + (alpha / r) B A dropout(x)`` with A
[r, in] and B [out, r] (B starts at zero, so the adapted model starts equal
to the backbone); merging writes ``W + (alpha / r) B A`` back.
"""
import dataclasses
import re
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ['LORA_ROLES', 'LoRASettings', 'add_lora', 'lora_module_names',
           'merge_lora_state_dict', 'ADAPTER']

#: the peft adapter name
ADAPTER = 'default'

#: role -> name patterns (a module matches when its name ends with one):
#: the official's names, then the mmpretrain and timm equivalents
LORA_ROLES: Dict[str, Tuple[str, ...]] = {
    'qkv': (r'attn\.qkv', r'attn\.[qkv]_proj'),
    'proj': (r'attn\.proj', r'patch_embed\.proj', r'patch_embed\.projection'),
    'mlp.fc1': (r'mlp\.fc1', r'mlp\.fc1_[gx]', r'ffn\.layers\.0\.0',
                r'ffn\.w12', r'mlp\.w12'),
    'mlp.fc2': (r'mlp\.fc2', r'ffn\.layers\.1', r'ffn\.w3', r'mlp\.w3'),
}


@dataclasses.dataclass(frozen=True)
class LoRASettings:
    """peft LoRA on the student backbone (the official's defaults).

    Args:
        r (int): rank of the adapters.
        alpha (float): scale numerator: the update is ``alpha / r * B A``.
        dropout (float): dropout on the adapters' input (student only: the
            teacher runs in eval mode).
        target_modules (tuple[str]): roles of :data:`LORA_ROLES` to adapt.
    """
    r: int = 8
    alpha: float = 32.0
    dropout: float = 0.1
    target_modules: Tuple[str, ...] = ('qkv', 'proj', 'mlp.fc1', 'mlp.fc2')

    def __post_init__(self):
        if int(self.r) != self.r or self.r < 1:
            raise ValueError(f'lora.r must be a positive int, got {self.r}')
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f'lora.dropout must be in [0, 1), got '
                             f'{self.dropout}')
        targets = tuple(self.target_modules)
        unknown = [t for t in targets if t not in LORA_ROLES]
        if unknown or not targets:
            raise ValueError(f'lora.target_modules {list(targets)}: each '
                             f'must be one of {sorted(LORA_ROLES)}')
        object.__setattr__(self, 'target_modules', targets)

    @classmethod
    def from_cfg(cls, cfg: dict) -> 'LoRASettings':
        """From a config dict; an unknown key is an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise TypeError(f'model.lora got unknown settings {unknown}; '
                            f'known: {sorted(known)}')
        return cls(**cfg)

    @property
    def scaling(self) -> float:
        return self.alpha / self.r


def lora_module_names(backbone: nn.Module,
                      roles: Tuple[str, ...]) -> List[str]:
    """Names (in ``backbone``) of the Linear / Conv2d modules the ``roles``
    adapt; a role that matches nothing is an error."""
    names = []
    for role in roles:
        pattern = re.compile(r'(^|.*\.)(' + '|'.join(LORA_ROLES[role])
                             + r')$')
        found = [n for n, m in backbone.named_modules()
                 if isinstance(m, (nn.Linear, nn.Conv2d))
                 and pattern.match(n)]
        if not found:
            raise ValueError(f'lora role {role!r} matches no Linear/Conv2d '
                             f'module of {type(backbone).__name__} (looked '
                             f'for names ending in {LORA_ROLES[role]})')
        names += [n for n in found if n not in names]
    return names


def _route_qkv_bias_through_module(backbone: nn.Module,
                                   names: List[str]) -> None:
    """timm's Eva attention with separate q/v biases computes
    ``F.linear(x, qkv.weight, bias)`` without calling ``qkv``, which would
    bypass an adapter on it; ``qkv_bias_separate`` makes it call ``qkv(x)``
    and add the bias after (the same map)."""
    adapted = set(names)
    for name, module in backbone.named_modules():
        if (hasattr(module, 'qkv_bias_separate')
                and getattr(module, 'q_bias', None) is not None
                and f'{name}.qkv'.lstrip('.') in adapted):
            module.qkv_bias_separate = True


def add_lora(backbone: nn.Module, settings: LoRASettings) -> List[str]:
    """Insert peft LoRA adapters (fp32) into ``backbone`` in place and
    freeze everything else; returns the adapted module names."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.functional import cast_adapter_dtype
    names = lora_module_names(backbone, settings.target_modules)
    _route_qkv_bias_through_module(backbone, names)
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha,
                        lora_dropout=settings.dropout,
                        target_modules=names, bias='none')
    inject_adapter_in_model(config, backbone, adapter_name=ADAPTER)
    cast_adapter_dtype(backbone, ADAPTER, autocast_adapter_dtype=True)
    return names


def _delta(a: Tensor, b: Tensor, weight: Tensor) -> Tensor:
    """B A [out, in(, k, k)] for Linear (A [r,in], B [out,r]) or Conv2d
    (A [r,in,k,k], B [out,r,1,1]) adapters."""
    a32, b32 = a.float(), b.float()
    if weight.dim() == 2:
        return b32 @ a32
    return (b32.flatten(1) @ a32.flatten(1)).view(weight.shape)


def merge_lora_state_dict(state_dict: Dict[str, Tensor], scaling: float,
                          adapter: str = ADAPTER) -> Dict[str, Tensor]:
    """A state dict of a LoRA-adapted module -> the plain module's:
    ``X.base_layer.{weight,bias}`` + ``X.lora_{A,B}.<adapter>.weight`` ->
    ``X.weight = W + scaling * B A`` (in W's dtype), ``X.bias``. Pure."""
    out: Dict[str, Tensor] = {}
    suffix_a = f'.lora_A.{adapter}.weight'
    for key, value in state_dict.items():
        if '.lora_A.' in key or '.lora_B.' in key:
            if not (key.endswith(suffix_a) or key.endswith(
                    f'.lora_B.{adapter}.weight')):
                raise KeyError(f'{key}: not an adapter named {adapter!r} '
                               '(only one adapter can be merged)')
            continue
        if '.base_layer.' not in key:
            out[key] = value
            continue
        stem, _, leaf = key.rpartition('.base_layer.')
        if leaf == 'weight':
            a = state_dict.get(stem + suffix_a)
            b = state_dict.get(f'{stem}.lora_B.{adapter}.weight')
            if a is None or b is None:
                raise KeyError(f'{key}: its adapters {stem}{suffix_a} / '
                               f'lora_B are missing')
            value = (value.float() + scaling * _delta(a, b, value)).to(
                value.dtype)
        out[f'{stem}.{leaf}'] = value
    return out


def lora_scaling(module: nn.Module) -> Optional[float]:
    """The scaling of the (single) adapter in ``module``; None without."""
    from peft.tuners.lora import LoraLayer
    scales = {m.scaling[ADAPTER] for m in module.modules()
              if isinstance(m, LoraLayer)}
    if not scales:
        return None
    if len(scales) > 1:
        raise ValueError(f'adapters with different scalings {scales}')
    return scales.pop()


@torch.no_grad()
def merged_backbone_state_dict(backbone: nn.Module) -> Dict[str, Tensor]:
    """The state dict of ``backbone`` with its adapters merged (plain keys);
    the module itself is unchanged."""
    state = backbone.state_dict()
    scaling = lora_scaling(backbone)
    return state if scaling is None else merge_lora_state_dict(state,
                                                               scaling)
