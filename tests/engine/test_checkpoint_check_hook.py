"""A training checkpoint of another architecture, given as ``load_from`` or
to resume from, is refused with an error naming the file and the tensors
whose shapes differ (CheckpointCheckHook)."""
import pytest
import torch


@pytest.mark.parametrize('resume', [False, True], ids=['load_from',
                                                       'resume'])
def test_checkpoint_of_another_architecture_is_refused(
        tmp_path, synthetic_root, synthetic_config, tiny_model_cfg,
        tiny_train_overrides, resume):
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mosic_mm.registry import MODELS
    other = MODELS.build(tiny_model_cfg(backbone=dict(
        tiny_model_cfg()['backbone'], arch=dict(
            embed_dims=48, num_layers=2, num_heads=2,
            feedforward_channels=64))))
    path = tmp_path / 'other arch.pth'
    # a training checkpoint (optimizer included) of another architecture
    torch.save(dict(meta=dict(iter=3), state_dict=other.state_dict(),
                    optimizer=torch.optim.AdamW(
                        other.parameters()).state_dict()), path)

    cfg = Config.fromfile(synthetic_config)
    cfg.merge_from_dict(tiny_train_overrides(synthetic_root, 4))
    cfg.work_dir = str(tmp_path / 'w')
    cfg.load_from, cfg.resume = str(path), resume
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as e:
        runner.train()
    msg = str(e.value)
    assert 'other arch.pth' in msg
    assert 'backbone.cls_token: checkpoint (1, 1, 48) vs model (1, 1, 32)' \
        in msg
