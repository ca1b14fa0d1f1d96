"""tools/evaluate.py on the small synthetic dataset (CPU)."""

import pytest
import torch

from conftest import SYNTHETIC_CONFIG, load_tool
from mosic_mm.evaluation.features import build_backbone


def _tool():
    return load_tool('evaluate.py')


def test_evaluate_all_init_vs_exported(synthetic_root, tmp_path, capsys):
    vit, _ = build_backbone(SYNTHETIC_CONFIG)
    path = str(tmp_path / 'backbone.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}}, path)
    common = ['--data-root', synthetic_root, '--input-size', '56',
              '--frame-step', '2', '--ks', '6', '12', '--set', 'iters=20']
    res = _tool().main(['all', SYNTHETIC_CONFIG, path, '--config',
                        SYNTHETIC_CONFIG, *common])
    out = capsys.readouterr().out
    assert 'DAVIS J&F' in out and 'hummingbird 1/1 mIoU' in out
    init, exported = res.values()
    assert set(init) == {
        'DAVIS J&F', 'DAVIS J', 'DAVIS F', 'overcluster K=6 mIoU',
        'overcluster K=12 mIoU', 'hummingbird 1/1 mIoU', 'linear probe mIoU',
        'videoclust per-frame mIoU', 'videoclust per-clip mIoU'}
    # the exported init weights give the same numbers as the config's init
    assert init == pytest.approx(exported)
    assert all(0.0 <= v <= 1.0 for v in init.values())


def test_backbone_file_errors(tmp_path):
    path = str(tmp_path / 'student_only.pth')
    torch.save({'state_dict': {'backbone.x': torch.zeros(1)}}, path)
    with pytest.raises(KeyError, match='teacher.backbone.'):
        build_backbone(SYNTHETIC_CONFIG, path, which='teacher')
    with pytest.raises(KeyError, match='missing'):
        build_backbone(SYNTHETIC_CONFIG, path)
    with pytest.raises(ValueError, match='--config'):
        build_backbone(None, path)
