"""The synthetic videos' frames as a semantic segmentation dataset."""
import os
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from mosic_mm.synthetic import CLASSES, PALETTE


@DATASETS.register_module()
class SyntheticSegDataset(BaseSegDataset):
    """Frames ``JPEGImages/<video>/<frame>.jpg`` with class masks
    ``ClassAnnotations/<video>/<frame>.png`` of the videos listed in
    ``ImageSets/<split>.txt`` (written by ``tools/make_synthetic.py``).

    Args:
        data_root (str): the synthetic dataset.
        split (str): 'train' or 'val'.
        frame_step (int): use every n-th frame of each video.
    """
    METAINFO = dict(classes=CLASSES, palette=[list(c) for c in PALETTE])

    def __init__(self, data_root: str, split: str = 'train',
                 frame_step: int = 1, **kwargs):
        self.split = split
        self.frame_step = int(frame_step)
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        list_file = osp.join(self.data_root, 'ImageSets', f'{self.split}.txt')
        if not osp.isfile(list_file):
            raise FileNotFoundError(
                f'{list_file} not found: generate the synthetic dataset with '
                f'python tools/make_synthetic.py --out {self.data_root}')
        with open(list_file) as f:
            videos = [ln.strip() for ln in f if ln.strip()]
        data_list = []
        for v in videos:
            img_dir = osp.join(self.data_root, 'JPEGImages', v)
            stems = sorted(osp.splitext(n)[0] for n in os.listdir(img_dir)
                           if n.endswith('.jpg'))
            for s in stems[::self.frame_step]:
                data_list.append(dict(
                    img_path=osp.join(img_dir, s + '.jpg'),
                    seg_map_path=osp.join(self.data_root, 'ClassAnnotations',
                                          v, s + '.png'),
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[]))
        return data_list
