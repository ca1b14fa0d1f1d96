# EPIC-KITCHENS-100 RGB frames (docs/datasets.md), as the download scripts
# lay them out with each rgb_frames/P01_01.tar unpacked into a folder:
# data/epic_kitchens/P01/rgb_frames/P01_01/frame_0000000001.jpg. The list:
#   python tools/make_video_list.py epic_kitchens data/epic_kitchens \
#       data/epic_kitchens/video_list.txt
# Swapped into the recipe by configs/mosic_vits_epic_kitchens.py.
epic_kitchens_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/epic_kitchens',
    data_prefix=dict(img=''),
    ann_file='video_list.txt')
# videos run for minutes at 50-60 fps; one clip per video per epoch, so
# starts every 600 frames (~10-12 s) keep the cache near YouTube-VOS's size;
# the recipe's stride 6 meets the official code's >= 5 for EPIC
epic_kitchens_clips = dict(window_step=600)
