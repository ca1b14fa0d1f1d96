"""Same seed, same data, one process: identical losses."""
import pytest

from test_kill_resume import logged, run_train


@pytest.mark.parametrize(
    'workers', [0, pytest.param(2, marks=pytest.mark.slow)])
def test_same_seed_gives_identical_losses(tmp_path, synthetic_root, workers):
    opts = (f'train_dataloader.num_workers={workers}',
            'model.mask_ratio=0.25',  # the model draws random numbers too
            'default_hooks.checkpoint.interval=100')
    losses = []
    for name in ('a', 'b'):
        run_train(tmp_path / name, synthetic_root, 10, options=opts)
        losses.append(logged(tmp_path / name))
    assert sorted(losses[0]) == list(range(1, 11))
    assert losses[0] == losses[1]
    assert len(set(losses[0].values())) > 5  # real, varying losses
