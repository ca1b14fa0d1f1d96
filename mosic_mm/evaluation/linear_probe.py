"""Linear probe on frozen patch features (the mmseg linear protocol in
miniature: standardise, 1x1 linear map to class logits on the token grid,
bilinear upsampling to the mask, pixel cross-entropy)."""
import numpy as np
import torch
import torch.nn.functional as F

from .segmentation_metrics import confusion_matrix, iou_from_confusion

__all__ = ['linear_probe_miou']


def _logits(weight, bias, feats, mean, std, size):
    x = (feats - mean) / std  # [N, C, h, w]; BN with the train statistics
    logits = torch.einsum('nchw,kc->nkhw', x, weight) + bias[:, None, None]
    return F.interpolate(logits, size=size, mode='bilinear',
                         align_corners=False)


def linear_probe_miou(train_features: np.ndarray, train_masks: np.ndarray,
                      val_features: np.ndarray, val_masks: np.ndarray,
                      num_classes: int, steps: int = 300, lr: float = 0.05,
                      batch_size: int = 64, ignore_index: int = 255,
                      seed: int = 0) -> float:
    """Train a linear classifier on frozen features, return the val mIoU.

    Args:
        train_features, val_features: float [N, C, h, w] patch features.
        train_masks, val_masks: int [N, H, W] class ids in
            ``[0, num_classes)`` or ``ignore_index``.
        steps: Adam steps on mini-batches of ``batch_size`` images.

    Returns:
        float: mIoU over the classes present (``iou_from_confusion``).
    """
    if train_features.ndim != 4 or val_features.ndim != 4:
        raise ValueError('features must be [N, C, h, w], got '
                         f'{train_features.shape}, {val_features.shape}')
    g = torch.Generator().manual_seed(seed)
    tr_x = torch.from_numpy(np.asarray(train_features, np.float32))
    tr_y = torch.from_numpy(np.asarray(train_masks, np.int64))
    mean = tr_x.mean((0, 2, 3), keepdim=True)[0]
    std = tr_x.std((0, 2, 3), keepdim=True)[0].clamp_min(1e-6)
    size = tuple(tr_y.shape[-2:])
    weight = torch.zeros(num_classes, tr_x.shape[1], requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.Adam([weight, bias], lr=lr)
    for _ in range(steps):
        idx = torch.randint(len(tr_x), (min(batch_size, len(tr_x)), ),
                            generator=g)
        loss = F.cross_entropy(
            _logits(weight, bias, tr_x[idx], mean, std, size), tr_y[idx],
            ignore_index=ignore_index)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        va_x = torch.from_numpy(np.asarray(val_features, np.float32))
        va_y = np.asarray(val_masks, np.int64)
        pred = torch.cat([
            _logits(weight, bias, va_x[i:i + batch_size], mean, std,
                    tuple(va_y.shape[-2:])).argmax(1)
            for i in range(0, len(va_x), batch_size)
        ]).numpy()
    conf = confusion_matrix(pred, va_y, num_classes, num_classes,
                            ignore_index)
    return iou_from_confusion(conf)[0]
