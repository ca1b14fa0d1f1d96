"""The lab: speed and input benchmarks, stress runs, the GPU check and the
orchestration of the demo and the mini reproduction (tools/lab/README.md).

Nothing in ``mosic_mm`` imports it (an import-linter contract); its scripts
use the package's public functions like any user code.
"""
import os.path as osp

#: the checkout the lab runs in (its configs and assets are relative to it)
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
