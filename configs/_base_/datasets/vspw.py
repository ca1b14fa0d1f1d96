# VSPW (docs/datasets.md): data/vspw/data/<video>/origin/<frame>.jpg beside
# the label maps data/vspw/data/<video>/mask/<frame>.png, which are not
# videos. The list names the origin folders:
#   python tools/make_video_list.py vspw data/vspw/data \
#       data/vspw/video_list.txt
# (all videos, as the official code; --select data/vspw/train.txt: the train
# split only). Swapped into the recipe by configs/mosic_vits_vspw.py.
vspw_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/vspw',
    data_prefix=dict(img='data'),
    ann_file='video_list.txt')
