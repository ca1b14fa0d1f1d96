"""tools/benchmark_collection.py (docs/benchmarks.md, "A collection of
650,000 videos") on a collection of 120 videos: every job lists all of
them, the extraction runs extract exactly the videos the manifest does not
list, and a second extraction benchmark on the same root undoes the first
one's extraction."""
import os
import os.path as osp
import re

import pytest

from tools.lab.benchmark_collection import (
    _Linker,
    benchmark_collection,
    format_markdown,
    measure_extraction,
)


def test_linker_makes_a_fresh_copy_every_per_inode_links(tmp_path):
    src = tmp_path / 'a.mp4'
    src.write_bytes(b'video')
    link = _Linker(str(src), per_inode=2)
    for i in range(5):
        link(str(tmp_path / f'link{i}'))
    nlink = [os.stat(f'{src}{s}').st_nlink for s in ('', '.1', '.2')]
    assert nlink == [3, 3, 2]
    assert (tmp_path / 'link4').read_bytes() == b'video'


def _counts(summary):
    """{rank: (done, skipped, failed)} of the ranks' summary lines."""
    out = {}
    for line in summary:
        m = re.match(r'rank (\d+): (\d+) done, (\d+) skipped, (\d+) failed',
                     line)
        if m:
            out[int(m[1])] = tuple(int(x) for x in m.groups()[1:])
    return out


def _check_extraction(e, n, left):
    """The first run extracts exactly the videos the manifest does not
    list, the second none."""
    assert e['videos'] == n and e['manifest_entries'] == n - left
    first = _counts(e['first_run']['summary'])
    assert sorted(first) == [0, 1]
    assert sum(c[0] for c in first.values()) == left
    assert sum(c[1] for c in first.values()) == n - left
    assert all(c[2] == 0 for c in first.values())
    second = _counts(e['second_run']['summary'])
    assert [c[:1] for c in second.values()] == [(0, ), (0, )]
    assert sum(c[1] for c in second.values()) == n


@pytest.mark.slow
def test_benchmark_on_a_small_collection(tmp_path):
    root, n, left = str(tmp_path / 'collection'), 120, 10
    r = benchmark_collection(root, num_videos=n, num_classes=6,
                             num_workers=2, remaining=left, repeats=1)
    assert r['cold']['videos'] == n
    assert [w['videos'] for w in r['warm']] == [n]
    assert [m['mode'] for m in r['memory']] == ['index', 'serialized', 'list']
    for m in r['memory']:
        assert m['videos'] == n and len(m['workers']) == 2
        assert all(w['uss'] > 0 and w['pss'] > 0 for w in m['workers'])
    _check_extraction(r['extraction'], n, left)
    text = format_markdown(r)
    assert f'Collection: {n:,} video files, 6 class folders' in text
    assert f'extract the last {left:,} videos' in text
    # again on the same root: the first benchmark's extraction is undone
    _check_extraction(measure_extraction(
        root, osp.join(root, 'video_index.bin'), left), n, left)
