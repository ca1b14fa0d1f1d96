"""Fixes for the pinned stack: safe checkpoint loading, atomic writes, and
no transformers import at start-up."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer

import mosic_mm  # noqa: F401  (importing the package applies the fixes)


def test_history_buffer_round_trips_through_weights_only_load(tmp_path):
    buf = HistoryBuffer()
    for v in (1.0, 2.0, 4.0):
        buf.update(v)
    state = {'hub': buf, 'scalar': np.float64(3.5), 'arr': np.arange(3)}
    torch.save(state, tmp_path / 'c.pth')
    out = torch.load(tmp_path / 'c.pth', weights_only=True)
    assert out['hub'].mean() == pytest.approx(7 / 3)
    assert out['hub'].max() == 4.0
    assert out['scalar'] == 3.5 and out['arr'].tolist() == [0, 1, 2]


class _Exploit:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_a_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _Exploit()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu')  # default weights_only=True
    # getattr-based gadgets stay forbidden too
    assert getattr not in torch.serialization.get_safe_globals()


def test_local_backend_writes_atomically(tmp_path, monkeypatch):
    backend = get_file_backend(str(tmp_path / 'x'))
    target = tmp_path / 'iter_1.pth'
    backend.put(b'complete', str(target))
    assert target.read_bytes() == b'complete'

    def crash(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'trunc', str(target))
    with pytest.raises(OSError, match='disk full'):
        backend.put_text('half', str(tmp_path / 'last_checkpoint'))
    assert target.read_bytes() == b'complete'  # the old file is intact
    assert not (tmp_path / 'last_checkpoint').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_1.pth']


def test_importing_the_plugin_does_not_import_transformers():
    """A fresh process: ``import mosic_mm`` (and the mmengine optimizer
    registry it loads) leaves transformers and peft unimported."""
    import subprocess
    import sys
    code = ('import sys, mosic_mm, mmengine.optim; '
            'print(sorted(m for m in ("transformers", "peft") '
            'if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == '[]'


def test_adafactor_still_builds_from_a_config():
    from mmengine.optim import build_optim_wrapper
    from transformers import Adafactor
    model = torch.nn.Linear(3, 2)
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='Adafactor', lr=1e-3, relative_step=False)))
    assert type(wrapper.optimizer) is Adafactor
    loss = model(torch.ones(1, 3)).sum()
    wrapper.update_params(loss)  # a real step
