from .skip_nonfinite import (
                             SkipNonFiniteAmpOptimWrapper,
                             SkipNonFiniteMixin,
                             SkipNonFiniteOptimWrapper,
                             amp_optim_wrapper_type,
)

__all__ = ['SkipNonFiniteAmpOptimWrapper', 'SkipNonFiniteMixin',
           'SkipNonFiniteOptimWrapper', 'amp_optim_wrapper_type']
