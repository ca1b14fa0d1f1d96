"""The embedded default dataset: the project's synthetic videos, generated on
first use so that the demo and tests need no download."""
import os.path as osp
from typing import Tuple

from mmengine.dist import barrier, is_main_process
from mmengine.logging import MMLogger

from mosic_mm.datasets.video_dataset import VideoTrajectoryDataset
from mosic_mm.registry import DATASETS
from mosic_mm.synthetic import write_dataset


@DATASETS.register_module()
class SyntheticVideoDataset(VideoTrajectoryDataset):
    """A :class:`VideoTrajectoryDataset` over ``data_root`` that first writes
    the synthetic videos there if they are missing (rank 0 writes, the other
    ranks wait).

    Args:
        split (str): 'train' or 'val'.
        num_train, num_val, num_frames, size, seed, style: generator
            settings (see
            :func:`mosic_mm.synthetic.write_dataset`); an existing
            dataset written with other settings is an error.
    """

    def __init__(self, data_root: str, split: str = 'train',
                 num_train: int = 32, num_val: int = 8, num_frames: int = 24,
                 size: Tuple[int, int] = (128, 128), seed: int = 0,
                 style: str = 'default', **kwargs):
        if split not in ('train', 'val'):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if is_main_process():
            summary = write_dataset(data_root, num_train=num_train,
                                    num_val=num_val, num_frames=num_frames,
                                    size=tuple(size), seed=seed,
                                    style=style)
            MMLogger.get_current_instance().info(
                f'synthetic videos in {data_root}: {summary}')
        barrier()
        kwargs.setdefault('ann_file', osp.join('ImageSets', f'{split}.txt'))
        super().__init__(data_root=data_root, **kwargs)
