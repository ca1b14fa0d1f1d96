# LVOS train (docs/datasets.md):
# data/lvos/train/JPEGImages/<video>/<frame>.jpg, every folder of JPEGImages
# is a video (no list file); LVOS videos are long (minutes), so a video holds
# many cached windows. Swapped into the recipe by configs/mosic_vits_lvos.py
# (see mose.py).
lvos_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/lvos/train',
    data_prefix=dict(img='JPEGImages'),
    ann_file='')
