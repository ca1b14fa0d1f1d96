"""Pictures of what MoSiC learns: tracks, PCA-RGB features, cluster maps."""
from .drawing import (
                      cluster_palette,
                      colorize_clusters,
                      draw_tracks,
                      overlay,
                      pca_rgb,
                      tile,
                      upsample,
)
from .model_outputs import clip_outputs, patch_centers
from .panels import clip_panels, panel_grid

__all__ = ['cluster_palette', 'colorize_clusters', 'draw_tracks', 'overlay',
           'pca_rgb', 'tile', 'upsample', 'clip_outputs', 'patch_centers',
           'clip_panels', 'panel_grid']
