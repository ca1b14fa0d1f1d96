# MoSiC starting from Leopart ViT-S/16 (the paper's "leopart-s"): timm's
# vit_small_patch16_224 (= the DINO ViT-S/16 architecture). The official code
# loads leopart_knn/leopart_vits16.ckpt after stripping the first key
# component; here strictly (missing/unexpected keys are an error).
# Weights: checkpoints/leopart_vits16.ckpt (github.com/MkuuWaUjinga/leopart).
_base_ = '../mosic_dino_vits16_ytvos.py'
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='checkpoints/leopart_vits16.ckpt',
                      layout='timm', strip_components=1)))
