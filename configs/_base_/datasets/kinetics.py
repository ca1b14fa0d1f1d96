# Kinetics-400 train as video files (docs/datasets.md):
# data/kinetics400/train/<class>/<youtube_id>_<start>_<end>.mp4 (or without
# the class folders) and the official annotations/train.csv. The list keeps
# the clips of the CSV that were downloaded:
#   python tools/make_video_list.py kinetics data/kinetics400/train \
#       data/kinetics400/train_videos.txt \
#       --kinetics-csv data/kinetics400/annotations/train.csv
# Swapped into the recipe by configs/mosic_vits_kinetics.py.
kinetics_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/kinetics400',
    data_prefix=dict(img='train'),
    ann_file='train_videos.txt',
    # ~650k clips: listed and counted once into this file (under data_root),
    # mapped by every rank and worker (docs/datasets.md, 'Large collections')
    index_file='video_index.bin')
# 10 s clips (250-300 frames): starts at multiples of 24 give ~8-10 cached
# windows per clip, as ~10 per YouTube-VOS video (docs/tracks.md); the
# recipe's SampleClip with this window_step
kinetics_clips = dict(window_step=24)
