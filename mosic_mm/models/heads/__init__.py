from .sinkhorn_head import SinkhornClusteringHead

__all__ = ['SinkhornClusteringHead']
