"""Batches clips, moves them to the device and normalises them."""
from typing import Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from mosic_mm.registry import MODELS


@MODELS.register_module()
class ClipDataPreprocessor(BaseDataPreprocessor):
    """uint8 clips [T,3,H,W] (list or batch) -> float [B,T,3,H,W] on the
    device, ``(x - mean) / std`` per RGB channel. Data samples move along.

    The uint8 tensor is moved first and converted on the device, which sends
    4x fewer bytes than converting on the host. The copy is asynchronous
    (``non_blocking=True``, default) when the DataLoader pins its batches
    (``pin_memory=True``, as the YT-VOS configs set), so it overlaps with
    the previous step's kernels; normalisation runs on the device. On CPU
    or from unpinned memory the copy is synchronous (same result).
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 non_blocking: bool = True):
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values, got {mean}, {std}')
        self.register_buffer('mean', torch.tensor(mean).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 1, 3, 1, 1),
                             persistent=False)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        if inputs.dim() == 4:  # a single batch of images [B,3,H,W]
            inputs = inputs.unsqueeze(1)
        if inputs.dim() != 5 or inputs.shape[2] != 3:
            raise ValueError('expected clips [B,T,3,H,W], got shape '
                             f'{tuple(inputs.shape)}')
        inputs = (inputs.float() - self.mean) / self.std
        return dict(inputs=inputs, data_samples=data.get('data_samples'))
