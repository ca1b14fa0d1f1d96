"""tools/train.py and tools/dist_train.sh: the options an OpenMMLab user
expects, and two CPU processes over gloo."""
import os
import os.path as osp
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'mosic_vits_synthetic.py')


def test_options_reach_the_config(load_tool, tmp_path):
    """--work-dir, --cfg-options, --launcher, --amp, --auto-scale-lr and
    --resume (a path, or the work dir's latest without a value) are in the
    config the Runner gets; the work dir defaults to work_dirs/<name>."""
    from mosic_mm.apis import build_train_config
    from tools.cli import runner_options
    train = load_tool('train.py')
    args = train.parse_args([SYNTHETIC_CONFIG, '--work-dir', str(tmp_path),
                             '--amp', '--auto-scale-lr', '--resume',
                             '--cfg-options', 'train_cfg.max_iters=3'])
    cfg = build_train_config(args.config, amp=args.amp,
                             auto_scale_lr=args.auto_scale_lr,
                             resume=args.resume, **runner_options(args))
    assert cfg.work_dir == str(tmp_path) and cfg.train_cfg.max_iters == 3
    assert cfg.optim_wrapper.type == 'SkipNonFiniteAmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable and cfg.launcher == 'none'
    assert cfg.resume is True and cfg.load_from is None
    args = train.parse_args([SYNTHETIC_CONFIG, '--resume', 'w/iter_6.pth'])
    cfg = build_train_config(args.config, resume=args.resume,
                             **runner_options(args))
    assert (cfg.resume, cfg.load_from) == (True, 'w/iter_6.pth')
    assert cfg.work_dir == osp.join('work_dirs', 'mosic_vits_synthetic')
    assert not cfg.auto_scale_lr.get('enable', False)


@pytest.mark.slow
def test_dist_train_two_processes_on_cpu(tmp_path, synthetic_root,
                                         free_port, tiny_train_options):
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    cmd = ['bash', osp.join(REPO, 'tools', 'dist_train.sh'),
           SYNTHETIC_CONFIG, '2', '--work-dir', str(tmp_path / 'w2'),
           '--cfg-options', *tiny_train_options(synthetic_root, 2)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=env)
    out = proc.stdout + proc.stderr
    assert 'terminate called' not in out, out[-4000:]  # clean teardown
    assert proc.returncode == 0, out[-4000:]
    assert 'world_size: 2' in out or "'world_size': 2" in out or \
        'Distributed launcher: pytorch' in out
    assert osp.exists(tmp_path / 'w2' / 'iter_2.pth')
