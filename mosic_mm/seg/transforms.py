"""Data transforms for the segmentation benchmarks."""
import cv2
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeSegMap(BaseTransform):
    """Resize the ground truth ``gt_seg_map`` to a fixed (H, W) with nearest
    neighbour and set ``ori_shape`` to it, so that predictions are scored at
    that resolution (the NeCo / Leopart protocol scores masks at 100x100).

    Args:
        size (int | tuple): (H, W) or a square side.
    """

    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def transform(self, results: dict) -> dict:
        if 'gt_seg_map' not in results:
            raise KeyError('ResizeSegMap needs gt_seg_map: put it after '
                           'LoadAnnotations in the pipeline')
        h, w = self.size
        results['gt_seg_map'] = cv2.resize(results['gt_seg_map'], (w, h),
                                           interpolation=cv2.INTER_NEAREST)
        results['ori_shape'] = (h, w)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(size={self.size})'
