"""distributed_session: ranks agree on the exit status and
the process group is destroyed on success and on error, so no process dies
in the group's teardown at exit (SIGABRT, 'terminate called without an
active exception')."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

SCRIPT = r'''
import os, sys
sys.path.insert(0, {repo!r})
import torch.distributed as dist
from mosic_mm.utils.dist import distributed_session

rank = int(os.environ['RANK'])
mode = {mode!r}
try:
    with distributed_session('pytorch') as session:
        assert session.created and dist.get_world_size() == 2
        if mode == 'error' and rank == 1:
            raise RuntimeError('rank 1 failed on purpose')
        session.status = 3 if (mode == 'status' and rank == 1) else 0
finally:
    print(f'rank {{rank}} initialized after the session: '
          f'{{dist.is_initialized()}}', flush=True)
print(f'rank {{rank}} status {{session.status}}', flush=True)
sys.exit(session.status)
'''


def _session(torchrun, tmp_path, mode):
    script = tmp_path / 'session.py'
    script.write_text(SCRIPT.format(repo=REPO, mode=mode))
    return torchrun([str(script)], timeout=180)


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['status'])
def test_ranks_agree_on_the_status_and_the_group_is_destroyed(tmp_path,
                                                              mode,
                                                              torchrun):
    proc, out = _session(torchrun, tmp_path, mode)
    want = 3 if mode == 'status' else 0
    # every rank exits with the worst status of all ranks
    assert f'rank 0 status {want}' in out and f'rank 1 status {want}' in out
    assert proc.returncode == (0 if want == 0 else 1), out[-3000:]
    for rank in (0, 1):
        assert f'rank {rank} initialized after the session: False' in out
    assert 'terminate called' not in out and 'SIGABRT' not in out


@pytest.mark.slow
def test_an_error_destroys_the_group_and_fails_the_job(tmp_path, torchrun):
    proc, out = _session(torchrun, tmp_path, 'error')
    assert proc.returncode != 0
    assert 'rank 1 failed on purpose' in out
    assert 'rank 1 initialized after the session: False' in out


def test_no_launcher_is_a_no_op():
    import torch.distributed as dist

    from mosic_mm.utils.dist import distributed_session
    with distributed_session('none') as session:
        assert not session.created and not session.distributed
        session.status = 2
    assert session.status == 2 and not dist.is_initialized()
