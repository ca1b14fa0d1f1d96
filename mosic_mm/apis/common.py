"""What the jobs of ``mosic_mm.apis`` share: loading a config with command
line overrides, a job's logger and a job's logger."""
from typing import Optional

from mmengine.config import Config


def load_job_config(config: str, cfg_options: Optional[dict] = None
                    ) -> Config:
    """``Config.fromfile(config)`` with ``cfg_options`` merged and its
    ``default_scope`` (mmpretrain when unset) made the default scope."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def job_logger(name: str):
    """The MMLogger ``name``, made at level INFO on first use."""
    from mmengine.logging import MMLogger
    if MMLogger.check_instance_created(name):
        return MMLogger.get_instance(name)
    return MMLogger.get_instance(name, log_level='INFO')
