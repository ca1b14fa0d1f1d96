"""plan_memory: exact weight, gradient and optimizer bytes of a tiny MoSiC
(hand counts: shared frozen weights once, bf16 frozen weights at 2 bytes,
FSDP dividing its units over the ranks), the batch read from the config,
the per-rank rules, and the planned peak against a real step's allocator
peak on this CPU (slow)."""
import copy
import json
import os.path as osp

import pytest
import torch
from torch import nn

from mosic_mm.apis import plan_memory
from mosic_mm.utils.config import load_config
from mosic_mm.utils.memory_plan import (
    ParamCounts,
    Sharding,
    StepMemory,
    StepShape,
    assemble,
    count_params,
    sharding,
    step_shape,
)

# The tiny MoSiC below, counted by hand (parameters, fp32 = 4 bytes):
# a block: ln1 64 + qkv 32*96+96 + proj 32*32+32 + gamma1 32 + ln2 64
#   + fc1 32*64+64 + fc2 64*32+32 + gamma2 32 = 8608 in 14 tensors;
# the head: Linear(32,48) 1584 + Linear(48,16) 784 + prototypes 8*16
#   = 2496 in 5 tensors;
# the backbone: cls 32 + pos_embed 17*32 + patch embedding 32*3*14*14+32
#   + final norm 64 + 2 blocks = 36704.
BLOCK, HEAD, BACKBONE = 8608, 2496, 36704
TRAINABLE = BLOCK + HEAD  # the last block and the head
FROZEN = BACKBONE - BLOCK
TENSORS = 14 + 5
BUFFERS = 2 * 3 * 4  # the data preprocessor's mean and std
SHARED_WEIGHTS = 4 * (BACKBONE + HEAD + TRAINABLE) + BUFFERS
MiB = 1 << 20


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory, synthetic_config):
    """The synthetic training config (2 clips x 6 frames, 112 px, 64
    tracks) with the tiny ViT/14 of the root conftest, last block
    trainable, fp32 teacher."""
    path = tmp_path_factory.mktemp('cfg') / 'tiny_plan.py'
    path.write_text(
        f'_base_ = [{synthetic_config!r}]\n'
        'model = dict(backbone=dict(arch=dict(_delete_=True, embed_dims=32,'
        ' num_layers=2, num_heads=2, feedforward_channels=64), '
        'img_size=56), head=dict(hidden_channels=(48, ), out_channels=16, '
        'num_prototypes=8), num_trainable_blocks=1, teacher_dtype=None)\n'
        'train_dataloader = dict(batch_size=2)\n')
    return str(path)


def test_step_shape_from_the_pipeline(tiny_config, repo):
    assert step_shape(load_config(tiny_config)) == StepShape(2, 6, 112, 112,
                                                              64)
    recipe = load_config(osp.join(repo, 'configs', 'mosic_vits_ytvos.py'))
    assert step_shape(recipe) == StepShape(8, 12, 224, 224, 256)
    broken = copy.deepcopy(recipe)
    broken.train_dataloader.dataset.pipeline = [
        t for t in broken.train_dataloader.dataset.pipeline
        if t.type != 'SampleClip']
    with pytest.raises(ValueError, match='SampleClip.clip_len'):
        step_shape(broken)


def test_weights_gradients_optimizer_are_hand_counts(tiny_config):
    plan = plan_memory(tiny_config, suggest=False, device='cpu')
    assert plan.weights == SHARED_WEIGHTS
    assert plan.gradients == 4 * TRAINABLE
    assert plan.counts.trainable_numel == TRAINABLE
    # AdamW: exp_avg and exp_avg_sq in fp32, and a fp32 step per tensor
    assert plan.optimizer == 2 * 4 * TRAINABLE + 4 * TENSORS
    assert plan.buckets == 0 and plan.gathered == 0  # one rank
    assert plan.activations > 0
    assert plan.peak >= plan.weights + plan.optimizer + plan.activations


def test_full_copy_and_bf16_frozen_weights(tiny_config):
    full = plan_memory(tiny_config, suggest=False, device='cpu',
                       cfg_options={'model.share_frozen_weights': False})
    assert full.weights == SHARED_WEIGHTS + 4 * FROZEN  # a second copy
    assert full.counts.shared == 0
    bf16 = plan_memory(tiny_config, suggest=False, device='cpu',
                       cfg_options={'model.frozen_dtype': 'bfloat16'})
    assert bf16.weights == SHARED_WEIGHTS - 2 * FROZEN  # 2 bytes each
    assert bf16.gradients == 4 * TRAINABLE  # trainable ones stay fp32


def test_fsdp_divides_its_units(tiny_config):
    gpus = 2
    plan = plan_memory(tiny_config, gpus=gpus, suggest=False, device='cpu',
                       cfg_options={
                           'model.share_frozen_weights': False,
                           'runner_type': 'FlexibleRunner',
                           'strategy': dict(type='PortableFSDPStrategy')})
    units = 4 * 4 * BLOCK  # student and teacher blocks, sharded
    assert plan.sharding.name == 'FSDP' and not plan.notes
    assert plan.weights == (SHARED_WEIGHTS + 4 * FROZEN - units
                            + units // gpus)
    assert plan.gradients == 4 * HEAD + 4 * BLOCK // gpus
    # two blocks' weights gathered (prefetch) and one block's gradients
    assert plan.gathered == 2 * 4 * BLOCK + 4 * BLOCK
    ddp = plan_memory(tiny_config, gpus=gpus, suggest=False, device='cpu')
    assert ddp.sharding.name == 'DDP' and ddp.weights == SHARED_WEIGHTS
    assert ddp.buckets == 4 * TRAINABLE  # a second gradient copy


def test_fsdp_with_shared_frozen_weights_is_noted(tiny_config):
    plan = plan_memory(tiny_config, gpus=2, suggest=False, device='cpu',
                       cfg_options={'strategy': dict(type='FSDPStrategy')})
    assert plan.counts.shared == 4 * FROZEN
    assert any('share_frozen_weights=False' in n for n in plan.notes)


class _Toy(nn.Module):
    """Two blocks (40 and 80 parameters), a head (18), a teacher holding
    the frozen first block itself and a copy of the second, a buffer."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 8), nn.Linear(4, 16)])
        self.blocks[0].requires_grad_(False)
        self.head = nn.Linear(8, 2)
        self.teacher = nn.ModuleList(
            [self.blocks[0], copy.deepcopy(self.blocks[1])])
        self.teacher.requires_grad_(False)
        self.register_buffer('mean', torch.zeros(3))


def test_count_params_by_hand():
    counts = count_params(_Toy())
    assert counts == ParamCounts(
        params=4 * (40 + 80 + 18 + 80), buffers=12,
        trainable=4 * (80 + 18), trainable_numel=98, shared=4 * 40,
        in_units=4 * (40 + 80 + 80), in_units_trainable=4 * 80,
        largest_unit=4 * 80, largest_unit_trainable=4 * 80)
    half = _Toy()
    half.blocks[0].to(dtype=torch.bfloat16)
    assert count_params(half).params == counts.params - 2 * 40


def test_assemble_per_rank_rules():
    counts = count_params(_Toy())
    step = StepMemory(backward_peak=0, activations=1000,
                      gradients_at_peak=0, optimizer_peak=0,
                      optimizer_states=2 * counts.trainable,
                      optimizer_temporaries=counts.trainable)
    shape = StepShape(1, 2, 16, 16, 4)

    def plan(rule, gpus=4):
        return assemble('toy', counts, step, shape, gpus, rule, None, 0.1)

    ddp = plan(Sharding('DDP', buckets=True))
    assert (ddp.weights, ddp.gradients, ddp.optimizer, ddp.buckets) == (
        counts.params + 12, 392, 784, 392)
    fsdp = plan(Sharding('FSDP', True, True, True, gathers_units=True))
    assert fsdp.weights == (872 - 800) + 800 // 4 + 12
    assert fsdp.gradients == (392 - 320) + 320 // 4
    assert fsdp.optimizer == 784 * fsdp.gradients // 392
    assert fsdp.gathered == 2 * 320 + 320 and fsdp.activations == 1000
    zero3 = plan(Sharding('ZeRO-3', True, True, True, gathers_units=True))
    assert (zero3.weights, zero3.gradients, zero3.optimizer) == (
        872 // 4 + 12, 392 // 4, 784 // 4)
    zero1 = plan(Sharding('ZeRO-1', optimizer=True))
    assert (zero1.weights, zero1.gradients, zero1.optimizer) == (
        884, 392, 196)
    one = plan(Sharding('FSDP', True, True, True, gathers_units=True), 1)
    assert one.weights == 884 and one.gathered == 0  # nothing to divide
    # peak: fixed parts plus the larger of the two phases
    assert ddp.peak == ddp.weights + 784 + 392 + max(1000, 392 + 392)


def test_sharding_of_the_strategy():
    from mmengine.config import Config
    assert sharding(Config(dict()), 8) == Sharding('DDP', buckets=True)
    assert not sharding(Config(dict()), 1).buckets
    assert not sharding(Config(dict(model_wrapper_cfg=dict(
        gradient_as_bucket_view=True))), 8).buckets
    assert sharding(Config(dict(strategy=dict(
        type='DeepSpeedStrategy', zero_optimization=dict(stage=2)))),
        8) == Sharding('ZeRO-2', gradients=True, optimizer=True)


def test_fit_and_suggestions(tiny_config):
    plan = plan_memory(tiny_config, device='cpu', suggest=False)
    roomy = plan_memory(tiny_config, gpu_mem_gb=1.0, device='cpu')
    assert roomy.fits and not roomy.suggestions
    # a GPU between the plan with and without the teacher chunked by clip
    tight = plan.peak / 0.9 * 0.99 / (1 << 30)
    small = plan_memory(tiny_config, gpu_mem_gb=tight, device='cpu')
    assert small.fits is False and small.suggestions
    for s in small.suggestions:
        assert s.fits and s.peak <= small.usable
        again = plan_memory(tiny_config, gpu_mem_gb=tight, device='cpu',
                            cfg_options=dict(s.options), suggest=False)
        assert again.peak == s.peak and again.fits
    assert 'settings that fit' in small.format()
    assert 'does NOT fit' in small.format()


@pytest.mark.slow
def test_planned_peak_matches_a_measured_step(repo):
    """Plan and a real step of DINOv2 ViT-S/14 (all blocks training, fp32,
    2 clips x 4 frames, 112 px) within 15 %: the whole peak and its part
    above the exactly counted weights and optimizer states."""
    from tools.lab.benchmark_memory_plan import run_child, small_options
    config = 'configs/mosic_vits_ytvos.py'
    options = {**small_options(config, 2, 4, 112, 64),
               'model.teacher_dtype': None,
               'model.num_trainable_blocks': None}
    plan = plan_memory(osp.join(repo, config), cfg_options=options,
                       suggest=False, device='cpu')
    measured = run_child(['--child', json.dumps([config, options])])['peak']
    fixed = plan.weights + plan.optimizer
    assert measured > fixed
    assert plan.peak == pytest.approx(measured, rel=0.15)
    assert plan.peak - fixed == pytest.approx(measured - fixed, rel=0.15)
