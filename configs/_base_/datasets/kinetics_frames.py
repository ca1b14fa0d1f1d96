# Kinetics-400 train as frame folders, what the official code reads
# (docs/datasets.md):
# data/kinetics400/rawframes_train/<class>/<clip>/img_00001.jpg
# (mmaction2's rawframes). The list keeps the clips of the official CSV:
#   python tools/make_video_list.py kinetics_frames \
#       data/kinetics400/rawframes_train data/kinetics400/train_rawframes.txt \
#       --kinetics-csv data/kinetics400/annotations/train.csv
# Swapped into the recipe by configs/mosic_vits_kinetics_frames.py.
kinetics_frames_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/kinetics400',
    data_prefix=dict(img='rawframes_train'),
    ann_file='train_rawframes.txt',
    # ~650k clips: listed and counted once into this file (under data_root),
    # mapped by every rank and worker (docs/datasets.md, 'Large collections')
    index_file='video_index.bin')
kinetics_frames_clips = dict(window_step=24)  # as kinetics.py
