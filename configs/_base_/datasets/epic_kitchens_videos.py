# EPIC-KITCHENS-100 videos (docs/datasets.md):
# data/epic_kitchens/P01/videos/P01_01.MP4. The list:
#   python tools/make_video_list.py epic_kitchens_videos data/epic_kitchens \
#       data/epic_kitchens/videos_list.txt
# Swapped into the recipe by configs/mosic_vits_epic_kitchens_videos.py.
epic_kitchens_videos_train = dict(
    type='VideoTrajectoryDataset',
    data_root='data/epic_kitchens',
    data_prefix=dict(img=''),
    ann_file='videos_list.txt')
epic_kitchens_videos_clips = dict(window_step=600)  # as epic_kitchens.py
