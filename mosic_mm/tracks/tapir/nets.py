"""Network blocks of TAPIR / BootsTAPIR.

Attribute names follow the released PyTorch checkpoints, so their state
dicts load with ``strict=True``. Layouts: images NCHW into the ResNet,
feature maps NHWC out of :class:`ExtraConvs`, tracks ``[M, T, C]`` (one
row per query, time second) through :class:`PipsMixer`.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .ops import depthwise_conv1d, pad_same

__all__ = [
    'PreActBlock', 'BlockGroup', 'ResNet', 'ExtraConvBlock', 'ExtraConvs',
    'ChannelMLP', 'MixerBlock', 'PipsMixer', 'CostVolumeHead'
]


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate='tanh')


class PreActBlock(nn.Module):
    """Pre-activation residual block (ResNet v2) with instance norm.

    ``norm -> relu -> conv3x3(stride) -> norm -> relu -> conv3x3``; the
    shortcut is a 1x1 projection of the first activation when
    ``use_projection``, else the input. NCHW in and out.
    """

    def __init__(self, channels_in: int, channels_out: int, stride: int,
                 use_projection: bool):
        super().__init__()
        self.stride = stride
        if use_projection:
            self.proj_conv = nn.Conv2d(channels_in, channels_out, 1,
                                       stride=stride, bias=False)
        else:
            self.proj_conv = None
        self.bn_0 = nn.InstanceNorm2d(channels_in, affine=True)
        self.conv_0 = nn.Conv2d(channels_in, channels_out, 3, stride=stride,
                                bias=False)
        self.bn_1 = nn.InstanceNorm2d(channels_out, affine=True)
        self.conv_1 = nn.Conv2d(channels_out, channels_out, 3, padding=1,
                                bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = torch.relu(self.bn_0(x))
        shortcut = x if self.proj_conv is None else self.proj_conv(act)
        y = self.conv_0(pad_same(act, 3, self.stride))
        y = self.conv_1(torch.relu(self.bn_1(y)))
        return y + shortcut


class BlockGroup(nn.Module):
    """``num_blocks`` :class:`PreActBlock`; only the first one strides and
    projects."""

    def __init__(self, channels_in: int, channels_out: int, num_blocks: int,
                 stride: int, use_projection: bool):
        super().__init__()
        self.blocks = nn.ModuleList([
            PreActBlock(channels_in if i == 0 else channels_out,
                        channels_out, stride if i == 0 else 1,
                        use_projection and i == 0)
            for i in range(num_blocks)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class ResNet(nn.Module):
    """TAPIR's ResNet-18-like encoder: a 7x7 stride-2 stem and four groups
    of two blocks with (64, 128, 256, 256) channels and strides
    (1, 2, 2, 1); no max pooling.

    ``forward`` maps images [N, 3, H, W] to the outputs of group 1
    ([N, 128, H/4, W/4], the high-resolution features) and group 3
    ([N, 256, H/8, W/8], the low-resolution ones).
    """

    def __init__(self,
                 channels: Sequence[int] = (64, 128, 256, 256),
                 strides: Sequence[int] = (1, 2, 2, 1),
                 blocks_per_group: Sequence[int] = (2, 2, 2, 2)):
        super().__init__()
        self.initial_conv = nn.Conv2d(3, channels[0], 7, stride=2,
                                      bias=False)
        groups = []
        for i, (c, s, n) in enumerate(zip(channels, strides,
                                          blocks_per_group)):
            c_in = channels[0] if i == 0 else channels[i - 1]
            groups.append(BlockGroup(c_in, c, n, s, use_projection=True))
        self.block_groups = nn.ModuleList(groups)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.initial_conv(pad_same(x, 7, 2))
        outs = []
        for group in self.block_groups:
            x = group(x)
            outs.append(x)
        return outs[1], outs[3]


class ExtraConvBlock(nn.Module):
    """BootsTAPIR's extra block on the low-resolution features (NHWC):
    ``y = LayerNorm(x); y + conv3x3(gelu(conv3x3(y)))``, widening by
    ``multiplier`` in between. The residual starts from the *normalised*
    input, as in the original model."""

    def __init__(self, channels: int = 256, multiplier: int = 4):
        super().__init__()
        self.layer_norm = nn.LayerNorm(channels)
        self.conv = nn.Conv2d(channels, channels * multiplier, 3, padding=1)
        self.conv_1 = nn.Conv2d(channels * multiplier, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer_norm(x)
        r = self.conv_1(_gelu(self.conv(y.permute(0, 3, 1, 2))))
        return y + r.permute(0, 2, 3, 1)


class ExtraConvs(nn.Module):
    """A stack of :class:`ExtraConvBlock` (five in the released model)."""

    def __init__(self, num_layers: int = 5, channels: int = 256,
                 multiplier: int = 4):
        super().__init__()
        self.blocks = nn.ModuleList(
            [ExtraConvBlock(channels, multiplier) for _ in range(num_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class ChannelMLP(nn.Module):
    """Per-frame MLP ``dim -> 4 dim -> dim`` (tanh GELU)."""

    def __init__(self, dim: int):
        super().__init__()
        self.mlp2_up = nn.Linear(dim, dim * 4)
        self.mlp2_down = nn.Linear(dim * 4, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp2_down(_gelu(self.mlp2_up(x)))


Context = Dict[str, torch.Tensor]


class MixerBlock(nn.Module):
    """One block of the refinement mixer on [M, T, dim].

    Temporal part: LayerNorm, a depthwise temporal conv giving 4 outputs
    per channel, GELU, a depthwise temporal conv, the 4 outputs of each
    channel summed; then a per-frame :class:`ChannelMLP`; both residual.

    With ``causal`` the temporal convs only look back: each keeps the
    last ``kernel_size - 1`` frames of its input as context, and a call
    given the previous call's context continues the sequence exactly
    (zeros stand in for frames before the first one).
    """

    def __init__(self, dim: int, kernel_size: int = 3, causal: bool = False,
                 index: int = 0):
        super().__init__()
        self.causal = causal
        self.kernel_size = kernel_size
        self.names = (f'block_{index}_causal_1', f'block_{index}_causal_2')
        self.layer_norm = nn.LayerNorm(dim, bias=False)
        self.mlp1_up = nn.Conv1d(dim, dim * 4, kernel_size, groups=dim)
        self.mlp1_up_1 = nn.Conv1d(dim * 4, dim * 4, kernel_size,
                                   groups=dim * 4)
        self.layer_norm_1 = nn.LayerNorm(dim, bias=False)
        self.conv_channels_mixer = ChannelMLP(dim)

    def _temporal_conv(self, conv: nn.Conv1d, x: torch.Tensor,
                       context: Optional[torch.Tensor]
                       ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        k = self.kernel_size
        if self.causal:
            if context is None:
                context = x.new_zeros(x.shape[0], k - 1, x.shape[2])
            x = torch.cat([context, x], dim=1)
            new_context = x[:, x.shape[1] - (k - 1):]
        else:
            x = F.pad(x, (0, 0, (k - 1) // 2, k // 2))
            new_context = None
        return depthwise_conv1d(x, conv.weight, conv.bias), new_context

    def forward(self, x: torch.Tensor, context: Optional[Context] = None
                ) -> Tuple[torch.Tensor, Context]:
        name_1, name_2 = self.names
        context = context or {}
        y, ctx_1 = self._temporal_conv(self.mlp1_up, self.layer_norm(x),
                                       context.get(name_1))
        y, ctx_2 = self._temporal_conv(self.mlp1_up_1, _gelu(y),
                                       context.get(name_2))
        y = y.unflatten(-1, (x.shape[-1], 4)).sum(dim=-1)
        x = x + y
        x = x + self.conv_channels_mixer(self.layer_norm_1(x))
        new_context = {name_1: ctx_1, name_2: ctx_2} if self.causal else {}
        return x, new_context


class PipsMixer(nn.Module):
    """Refinement network: ``Linear -> num_blocks x MixerBlock ->
    LayerNorm -> Linear``, [M, T, in_dim] -> [M, T, out_dim].

    ``context`` (causal model only) holds, per block, the frames its
    temporal convs need from the previous call (``'block_{i}_causal_1'``
    [M, k-1, hidden], ``'block_{i}_causal_2'`` [M, k-1, 4 hidden]); the
    updated context is returned (empty when not causal).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 512,
                 num_blocks: int = 12, kernel_size: int = 3,
                 causal: bool = False):
        super().__init__()
        self.causal = causal
        self.hidden_dim = hidden_dim
        self.kernel_size = kernel_size
        self.linear = nn.Linear(in_dim, hidden_dim)
        self.blocks = nn.ModuleList([
            MixerBlock(hidden_dim, kernel_size, causal, index=i)
            for i in range(num_blocks)
        ])
        self.layer_norm = nn.LayerNorm(hidden_dim, bias=False)
        self.linear_1 = nn.Linear(hidden_dim, out_dim)

    def context_shapes(self) -> Dict[str, Tuple[int, int]]:
        """Per-row shape (frames, channels) of each context entry."""
        shapes = {}
        for block in self.blocks:
            shapes[block.names[0]] = (self.kernel_size - 1, self.hidden_dim)
            shapes[block.names[1]] = (self.kernel_size - 1,
                                      4 * self.hidden_dim)
        return shapes

    def forward(self, x: torch.Tensor, context: Optional[Context] = None
                ) -> Tuple[torch.Tensor, Context]:
        x = self.linear(x)
        new_context: Context = {}
        for block in self.blocks:
            x, ctx = block(x, context)
            new_context.update(ctx)
        return self.linear_1(self.layer_norm(x)), new_context


class CostVolumeHead(nn.Module):
    """Turns per-frame cost volumes [M, 1, h, w] into a position heatmap
    logit [M, h, w] and (occlusion, expected-distance) logits [M, 2]."""

    def __init__(self):
        super().__init__()
        self.hid1 = nn.Conv2d(1, 16, 3, padding=1)
        self.hid2 = nn.Conv2d(16, 1, 3, padding=1)
        self.hid3 = nn.Conv2d(16, 32, 3, stride=2)
        self.hid4 = nn.Linear(32, 16)
        self.occ_out = nn.Linear(16, 2)

    def forward(self, cost: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        hidden = torch.relu(self.hid1(cost))
        heat = self.hid2(hidden)[:, 0]
        occ = torch.relu(self.hid3(pad_same(hidden, 3, 2)))
        occ = torch.relu(self.hid4(occ.mean(dim=(-2, -1))))
        return heat, self.occ_out(occ)
