"""Timing and memory on CPU or CUDA, the device's dense-matmul peak, and
the machine line printed above benchmark tables."""
import contextlib
import os
import resource
import time

import torch


def sync(device):
    """Wait for the device's queued work (CUDA); no-op on CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def timed(times: dict, key: str, device):
    """Add the wall seconds of the block, device work included, to
    ``times[key]``."""
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    times[key] = times.get(key, 0.0) + time.perf_counter() - start


def matmul_peak_gflops(device, dtype, n: int = 2048, reps: int = 5) -> float:
    """Dense n^3 matmul throughput of this device (best of ``reps``)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    runs = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        runs.append(time.perf_counter() - start)
    return 2 * n**3 / min(runs) / 1e9  # best of reps: the peak


def peak_memory_mb(device) -> float:
    """MiB: max allocated on CUDA, the process RSS high-water mark on CPU."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_memory_mb(device) -> float:
    """MiB: allocated now on CUDA, the process RSS now on CPU."""
    if device.type == 'cuda':
        return torch.cuda.memory_allocated(device) / 2**20
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def machine_description() -> str:
    """'CPU model, cores, GPU; torch version, threads'."""
    cpu = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    gpu = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
           else 'no GPU')
    return (f'{cpu}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__}'
            f', {torch.get_num_threads()} threads')
