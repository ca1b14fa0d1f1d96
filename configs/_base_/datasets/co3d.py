# CO3D (v2) sequences (docs/datasets.md), unpacked from the distributed zips
# (frames only) into data/co3d/<category>/<sequence>/images/frame000001.jpg:
#   python tools/unpack_co3d.py /path/to/co3d_zips --out data/co3d
#   python tools/make_video_list.py co3d data/co3d data/co3d/video_list.txt
# Swapped into the recipe by configs/mosic_vits_co3d.py.
co3d_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/co3d',
    data_prefix=dict(img=''),
    ann_file='video_list.txt')
