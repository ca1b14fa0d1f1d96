"""tools/lab/gpu_check.sh / gpu_check.py on CPU with tiny shapes (no GPU here):
the check runs end to end and its FLOP count is the real step's."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tools.lab import (
    REPO,  # noqa: E402
    gpu_check,  # noqa: E402
)
from tools.lab.gpu_check import TINY_ARCH, build_loader  # noqa: E402


def test_gpu_check_tiny_cpu(tmp_path):
    res = gpu_check.main([
        '--device', 'cpu', '--tiny', '--workers', '0', '--archs', 'vits',
        '--parts', 'archs', '--root',
        str(tmp_path / 'd')
    ])
    assert res['input_clips_per_s'] > 0
    (r, ) = res['archs']
    assert r['step_s'] > 0 and r['data_wait_s'] >= 0
    assert 0 < r['gpu_util'] <= 1
    assert r['teacher_dtype'] == 'bfloat16'  # the config's teacher
    assert r['tflop_per_step'] > 0 and r['peak_gib'] > 0
    assert r['tflops'] == pytest.approx(r['tflop_per_step'] / r['step_s'])


@pytest.mark.slow  # three 2-process torchrun trainings
def test_tracker_and_sharded_parts_on_cpu(tmp_path):
    """BootsTAPIR's part times both models (no half precision on a CPU);
    the sharded part trains DDP, then FSDP from DDP's checkpoint, to the
    same weights and Adam moments."""
    res = gpu_check.main(['--device', 'cpu', '--tiny', '--parts', 'tracker',
                          'sharded'])
    assert 'archs' not in res
    assert [r['model'] for r in res['tracker']] == ['offline', 'online']
    for r in res['tracker']:
        assert r['fp32_frames_per_s'] > 0 and 'bfloat16' not in r
    s = res['sharded']
    assert s['ranks'] == 2 and 'fsdp_offload_bf16_s' not in s
    assert s['fsdp_vs_ddp_max_weight_diff'] < 1e-5
    assert s['fsdp_vs_ddp_max_moment_diff'] < 1e-7


def test_loader_serves_cached_uint8_clips(tmp_path):
    args = gpu_check.parse_args([
        '--device', 'cpu', '--tiny', '--workers', '0', '--root',
        str(tmp_path / 'd')
    ])
    loader = build_loader(args, torch.device('cpu'))
    batch = next(iter(loader))
    assert batch['inputs'].dtype == torch.uint8
    assert batch['inputs'].shape == (2, 3, 3, 56, 56)
    s = batch['data_samples'][0]
    assert s.tracks.shape == (3, 16, 2) and s.visibility.shape == (3, 16)
    assert loader.dataset.pipeline.transforms[1].num_cache_misses == 0


def test_step_flops_scale_with_batch():
    """count_step_flops counts batch 1 and scales: the real batch-3 step
    counts the same within 1 % (only prototypes / Sinkhorn are not per
    clip)."""
    from tools.lab.lib.gpu_demand import count_step_flops
    cfg = osp.join(REPO, 'configs', 'mosic_vits_ytvos.py')
    over = dict(arch=TINY_ARCH, img_size=56)
    one = count_step_flops(cfg, 3, 3, 16, 56, over)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.structures import DataSample
    from torch.utils.flop_counter import FlopCounterMode

    import mosic_mm  # noqa: F401
    from mosic_mm.registry import MODELS
    c = Config.fromfile(cfg)
    init_default_scope('mmpretrain')
    c.model.backbone.init_cfg = None
    c.model.backbone.update(over)
    model = MODELS.build(c.model).train()
    samples = []
    for _ in range(3):
        s = DataSample()
        s.set_field(torch.rand(3, 16, 2) * 55, 'tracks')
        s.set_field(torch.ones(3, 16, dtype=torch.bool), 'visibility')
        samples.append(s)
    data = model.data_preprocessor(
        dict(inputs=[
            torch.randint(0, 255, (3, 3, 56, 56), dtype=torch.uint8)
            for _ in range(3)
        ],
             data_samples=samples), True)
    counter = FlopCounterMode(display=False)
    with counter:
        model.loss(**data)['loss'].backward()
    assert one == pytest.approx(counter.get_total_flops(), rel=0.01)


def test_gpu_check_sh_help():
    out = subprocess.run(
        ['bash',
         osp.join(REPO, 'tools', 'lab', 'gpu_check.sh'), '--help'],
        capture_output=True,
        text=True,
        env={
            'PYTHON': sys.executable,
            'PATH': '/usr/bin:/bin'
        })
    assert out.returncode == 0 and '--tiny' in out.stdout
