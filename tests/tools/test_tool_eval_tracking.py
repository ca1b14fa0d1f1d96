"""tools/eval_tracking.py: TAP-Vid metrics of trackers on the synthetic
ground truth and on a TAP-Vid pickle (a static video: a perfect score),
read with an unpickler that accepts numpy arrays only; tracker specs
``Type:key=value,...``."""
import pickle

import numpy as np
import pytest

from mosic_mm.apis.eval_tracking import load_tapvid, parse_tracker


def test_eval_tracking_on_synthetic_and_a_tapvid_pickle(
        synthetic_root, tmp_path, capsys, load_tool):
    tool = load_tool('eval_tracking.py')
    # DAVIS-format pickle: a static textured video, static points -> a
    # perfect tracker; points normalised to [0, 1] (pixel edges)
    rng = np.random.default_rng(0)
    frame = (rng.random((32, 48, 3)) * 255).astype(np.uint8)
    frame = np.repeat(np.repeat(frame, 4, 0), 4, 1)  # 128x192, smooth-ish
    video = np.stack([frame] * 5)
    pts = np.array([[0.3, 0.4], [0.6, 0.5]])[:, None].repeat(5, 1)
    occ = np.zeros((2, 5), bool)
    occ[1, 0] = True  # second point's query is frame 1
    path = tmp_path / 'tapvid_davis.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'v': dict(video=video, points=pts, occluded=occ)}, f)
    tool.main(['--synthetic', synthetic_root, '--trackers',
               'DISFlowTracker:preset=ultrafast', '--max-videos', '1',
               '--tapvid', str(path), '--tapvid-size', '64'])
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines()
             if ln.startswith('DISFlowTracker:preset=ultrafast')]
    assert len(lines) == 2 and 'AJ' in out and 'd_avg' in out
    syn, tap = ([float(v) for v in ln.split()[1:]] for ln in lines)
    assert syn[0] == 1 and syn[1] > 0 and 0 <= syn[2] <= 100
    assert tap[:5] == [1, 2, 100.0, 100.0, 100.0]  # videos, points, AJ...

    class Evil:
        def __reduce__(self):
            return (print, ('pwned',))
    with open(tmp_path / 'evil.pkl', 'wb') as f:
        pickle.dump({'v': Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match='builtins.print'):
        list(load_tapvid(str(tmp_path / 'evil.pkl')))
    assert parse_tracker('CoTracker3:checkpoint=a/b.pth,max_points=8') \
        == dict(type='CoTracker3', checkpoint='a/b.pth', max_points=8)
