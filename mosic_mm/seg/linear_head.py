"""Linear probe head: BatchNorm + 1x1 conv on ViT patch tokens."""
from typing import Tuple

from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class BNLinearHead(BaseDecodeHead):
    """``conv_seg(BN(x))`` on a backbone feature map [B, C, h, w]
    -> logits [B, num_classes, h, w] (upsampled to the labels by the loss and
    to the image by the segmentor).

    Args:
        in_channels (int): backbone width C (384 for ViT-S, 768 for ViT-B).
        norm_cfg (dict): the BN; default ``dict(type='BN')``.
        Other args as :class:`BaseDecodeHead` (``channels`` is C: no hidden
        layer; ``dropout_ratio`` defaults to 0).
    """

    def __init__(self, in_channels: int, norm_cfg=None,
                 dropout_ratio: float = 0.0, **kwargs):
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        super().__init__(in_channels=in_channels, channels=in_channels,
                         norm_cfg=norm_cfg, dropout_ratio=dropout_ratio,
                         **kwargs)
        self.bn = build_norm_layer(norm_cfg, in_channels)[1]

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        x = self._transform_inputs(inputs)
        if x.dim() != 4:
            raise ValueError('BNLinearHead needs feature maps [B, C, h, w]; '
                             "set the backbone's out_type='featmap', got "
                             f'shape {tuple(x.shape)}')
        return self.cls_seg(self.bn(x))
