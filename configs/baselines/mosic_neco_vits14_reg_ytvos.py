# MoSiC starting from NeCo on DINOv2-reg ViT-S/14 (the paper's "NeCo-s").
# Weights: checkpoints/neco_on_dinov2r_vit14_model.ckpt (github.com/vpariza/
# NeCo), a DINOv2 state dict with 4 registers. The official MoSiC code loads
# it into torch.hub's dinov2_vits14 (no registers) with strict=False, which
# would silently drop register_tokens; here the registers are kept and the
# load is strict (docs/reproduction.md).
_base_ = '../mosic_vits_reg_ytvos.py'
model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint='checkpoints/neco_on_dinov2r_vit14_model.ckpt')))
