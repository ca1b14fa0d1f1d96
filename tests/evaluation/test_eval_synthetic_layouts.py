"""The synthetic data of the fast presets (mosic_mm.evaluation.data
.synthetic): each benchmark dataset's layout written on first use, once,
as its writer writes it, and rewritten when its parameters change."""
import json
import os
import os.path as osp

import pytest

from mosic_mm.evaluation.data import synthetic as synthetic_data


@pytest.fixture
def layout_cache(tmp_path, monkeypatch):
    cache = tmp_path / 'cache'
    monkeypatch.setattr(synthetic_data, 'LAYOUT_CACHE', str(cache))
    return cache


def _files(root):
    return sorted(osp.relpath(osp.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def test_layout_written_once_as_the_writer_does(layout_cache, tmp_path):
    root = synthetic_data.synthetic_layout('davis2017')
    assert root == str(layout_cache / 'davis2017')
    writer, kwargs = synthetic_data.FAST_LAYOUTS['davis2017']
    ref = str(tmp_path / 'ref')
    writer(ref, seed=0, **kwargs)
    assert _files(root) == sorted(_files(ref) + ['synthetic_layout.json'])
    # a second call reuses it; no temporary folder is left behind
    record = osp.join(root, 'synthetic_layout.json')
    stamp = os.stat(record).st_mtime_ns
    assert synthetic_data.synthetic_layout('davis2017') == root
    assert os.stat(record).st_mtime_ns == stamp
    assert os.listdir(layout_cache) == ['davis2017']
    # a layout of other parameters (or a half-written one) is rewritten
    with open(record, 'w') as f:
        json.dump(dict(writer=writer.__name__,
                       kwargs=dict(kwargs, size=48)), f)
    synthetic_data.synthetic_layout('davis2017')
    with open(record) as f:
        assert json.load(f)['kwargs'] == kwargs
    assert os.stat(record).st_mtime_ns != stamp
    with pytest.raises(ValueError, match='no synthetic layout'):
        synthetic_data.synthetic_layout('coco')
