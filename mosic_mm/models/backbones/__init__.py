from .convert import (
                      detect_layout,
                      from_mmpretrain,
                      resample_pos_embed,
                      split_training_checkpoint,
                      to_mmpretrain,
)
from .convert_eva import (
                      detect_eva_layout,
                      dinov3_to_timm,
                      from_native,
                      openai_clip_to_timm,
                      timm_to_dinov3,
                      timm_to_openai_clip,
                      to_timm,
)
from .timm_vit import TimmViT
from .vision_transformer import DINOVisionTransformer
from .weight_init import (
                      CheckpointMismatchError,
                      ConvertedPretrainedInit,
                      LoadReport,
                      backbone_state_dict,
                      load_state_dict_converted,
                      read_checkpoint,
                      strip_components,
)

__all__ = [
    'DINOVisionTransformer', 'TimmViT', 'ConvertedPretrainedInit',
    'CheckpointMismatchError', 'LoadReport', 'read_checkpoint',
    'backbone_state_dict', 'load_state_dict_converted', 'detect_layout',
    'to_mmpretrain', 'from_mmpretrain', 'resample_pos_embed',
    'split_training_checkpoint', 'detect_eva_layout', 'dinov3_to_timm',
    'timm_to_dinov3', 'to_timm', 'from_native', 'strip_components',
    'openai_clip_to_timm', 'timm_to_openai_clip'
]
