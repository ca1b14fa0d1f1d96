"""scan_videos, the listing of a collection: frame folders first, else
video files at any depth (or under data_root), restricted and ordered by a
list file, with frame counts and what it left out and why."""
import pytest

from mosic_mm.datasets.sources.listing import (
    count_video_frames,
    read_ann_file,
    scan_videos,
)


def test_frame_folders_sorted_with_the_empty_ones_reported(tmp_path,
                                                           make_frames):
    img = tmp_path / 'JPEGImages'
    make_frames(img / 'b', 3, size=8)
    make_frames(img / 'a', 5, size=8, names=[f'{i}.PNG' for i in range(5)])
    (img / 'a' / 'notes.txt').write_text('not a frame')
    (img / 'a' / '.hidden.jpg').write_bytes(b'')
    make_frames(img / '.cache', 2, size=8)  # hidden folders are not videos
    for i in range(7):
        (img / f'empty{i}').mkdir()
    (img / 'empty0' / 'x.txt').write_text('')
    infos, skipped = scan_videos(str(img), str(tmp_path))
    assert [i['video_id'] for i in infos] == ['a', 'b']
    assert [i['total_frames'] for i in infos] == [5, 3]
    assert infos[0]['frame_paths'] == [str(img / 'a' / f'{i}.PNG')
                                       for i in range(5)]
    assert skipped == dict(empty=dict(count=7, shown=[
        f'empty{i}' for i in range(5)]))
    # other frame extensions
    infos, _ = scan_videos(str(img), str(tmp_path), frame_exts=('.txt', ))
    assert [(i['video_id'], i['total_frames']) for i in infos] == [
        ('a', 1), ('empty0', 1)]
    # a list file picks and orders; the empty folders it does not name are
    # not reported, one it names is an error
    listed = tmp_path / 'list.txt'
    listed.write_text('b\na\n')
    infos, skipped = scan_videos(str(img), str(tmp_path), str(listed))
    assert [i['video_id'] for i in infos] == ['b', 'a'] and skipped == {}
    listed.write_text('a\nempty3\n')
    with pytest.raises(FileNotFoundError, match='"empty3".*has no frames'):
        scan_videos(str(img), str(tmp_path), str(listed))


def test_video_files_at_any_depth_counted_and_unreadable_reported(
        tmp_path, make_video):
    make_video(tmp_path / 'train' / 'k1' / 'x.mp4', 6)
    make_video(tmp_path / 'train' / 'k2' / 'y.avi', 4)
    (tmp_path / 'train' / 'k2' / 'broken.mp4').write_bytes(b'not a video')
    (tmp_path / 'train' / 'k2' / 'list.csv').write_text('x')
    infos, skipped = scan_videos(str(tmp_path / 'train'), str(tmp_path))
    assert [(i['video_id'], i['total_frames']) for i in infos] == [
        ('k1/x', 6), ('k2/y', 4)]
    assert infos[0]['video_path'] == str(tmp_path / 'train' / 'k1' / 'x.mp4')
    assert list(skipped) == ['unreadable']
    assert skipped['unreadable']['count'] == 1
    assert skipped['unreadable']['shown'][0].startswith('k2/broken.mp4 (')
    # a list names them by id or by relative path, in its order
    listed = tmp_path / 'list.txt'
    listed.write_text('k2/y.avi\nk1/x\n')
    infos, _ = scan_videos(str(tmp_path / 'train'), str(tmp_path),
                           str(listed))
    assert [i['video_id'] for i in infos] == ['k2/y', 'k1/x']
    listed.write_text('k1/x\nk3/z\n')
    with pytest.raises(FileNotFoundError, match=r'"k3/z", which is not in '
                       r'the videos under'):
        scan_videos(str(tmp_path / 'train'), str(tmp_path), str(listed))
    # no image folder: the videos under data_root
    infos, _ = scan_videos(str(tmp_path / 'JPEGImages'), str(tmp_path))
    assert [i['video_id'] for i in infos] == ['train/k1/x', 'train/k2/y']
    assert count_video_frames(infos[1]['video_path']) == 4


def test_roots_without_videos_are_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match='data_root is empty'):
        scan_videos('', '')
    with pytest.raises(FileNotFoundError, match='"[^"]*nowhere" is not a '
                       'directory'):
        scan_videos(str(tmp_path / 'nowhere' / 'JPEGImages'),
                    str(tmp_path / 'nowhere'))
    (tmp_path / 'JPEGImages' / 'empty').mkdir(parents=True)
    with pytest.raises(ValueError, match='no videos found under'):
        scan_videos(str(tmp_path / 'JPEGImages'), str(tmp_path))


def test_list_files_skip_comments_and_blank_lines(tmp_path):
    assert read_ann_file('') is None
    path = tmp_path / 'l.txt'
    path.write_text('# header\n\n a/b  # one\n\\c\\d\\\n/e/\n')
    assert read_ann_file(str(path)) == ['a/b', 'c/d', 'e']
    path.write_text('# nothing\n\n')
    with pytest.raises(ValueError, match=r'l\.txt" lists no videos'):
        read_ann_file(str(path))
    with pytest.raises(FileNotFoundError, match='gone.txt" does not exist'):
        read_ann_file(str(tmp_path / 'gone.txt'))
