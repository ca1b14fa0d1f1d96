"""What the jobs of ``mosic_mm.apis`` share."""


def job_logger(name: str):
    """The MMLogger ``name``, made at level INFO on first use."""
    from mmengine.logging import MMLogger
    if MMLogger.check_instance_created(name):
        return MMLogger.get_instance(name)
    return MMLogger.get_instance(name, log_level='INFO')
