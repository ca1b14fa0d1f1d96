from .convert import (detect_layout, from_mmpretrain, resample_pos_embed,
                      split_training_checkpoint, to_mmpretrain)
from .vision_transformer import DINOVisionTransformer
from .weight_init import (CheckpointMismatchError, ConvertedPretrainedInit,
                          LoadReport, backbone_state_dict,
                          load_state_dict_converted, read_checkpoint)

__all__ = [
    'DINOVisionTransformer', 'ConvertedPretrainedInit',
    'CheckpointMismatchError', 'LoadReport', 'read_checkpoint',
    'backbone_state_dict', 'load_state_dict_converted', 'detect_layout',
    'to_mmpretrain', 'from_mmpretrain', 'resample_pos_embed',
    'split_training_checkpoint'
]
