"""Data-parallel training with PyTorch DDP, launched by torchrun: one process per device (or per CPU share).

`batch_size` stays the global batch: each of `world` processes takes batch_size / world samples per step from a
DistributedSampler whose permutation is the single-process one, so k steps on W processes update the parameters
like k steps in one process (up to float rounding, for models without BatchNorm or with SyncBatchNorm).
Rank 0 alone logs, checkpoints and writes outputs.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from finegrain.errors import ConfigError, FinegrainError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank among `world` processes, `local_rank` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


SINGLE = Dist()


def is_main_process() -> bool:
    """True outside torchrun and in its rank 0."""
    return int(os.environ.get("RANK", "0")) == 0 if under_torchrun() else True


def under_torchrun() -> bool:
    """True inside a process torchrun started (it sets LOCAL_RANK and WORLD_SIZE)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def check_world(nproc: int, variant: str) -> None:
    """Under torchrun, refuse a process count other than the variant's `nproc` (params.yaml records the real one)."""
    world = int(os.environ["WORLD_SIZE"])
    if world != nproc:
        raise ConfigError(
            f"variants.{variant}.nproc: {nproc}, but torchrun started {world} processes (nodes x nproc_per_node); "
            f"set nproc: {world}"
        )


def init(device: torch.device) -> tuple[Dist, torch.device]:
    """Join torchrun's process group (nccl on CUDA, else gloo) and pick this rank's device; one process otherwise."""
    if not under_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return SINGLE, device
    dist = Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not dist.main:
        logging.getLogger("finegrain").setLevel(logging.WARNING)
    return dist, device


def shutdown(dist: Dist) -> None:
    if dist.active and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def barrier(dist: Dist) -> None:
    if dist.active:
        torch.distributed.barrier()


def all_sum(values: list[float], dist: Dist, device: torch.device) -> list[float]:
    """Element-wise sum of `values` over all processes (the values themselves in one process)."""
    if not dist.active:
        return values
    total = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(total)
    return total.tolist()


def sync_batchnorm(model: nn.Module, device: torch.device) -> None:
    """Replace the BatchNorm layers of `model.net` by SyncBatchNorm (batch statistics over all processes)."""
    if device.type != "cuda":
        raise ConfigError(
            f"sync_batchnorm: SyncBatchNorm runs on CUDA only (device {device}); on CPU use a model without "
            "BatchNorm, e.g. small_cnn with model_args norm: group"
        )
    model.net = nn.SyncBatchNorm.convert_sync_batchnorm(model.net)


def data_parallel(model: nn.Module, dist: Dist, device: torch.device) -> nn.Module:
    """`model` wrapped in DistributedDataParallel over its trainable parameters (itself in one process)."""
    if not dist.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


class SameOrderSampler(DistributedSampler):
    """A DistributedSampler whose ranks share each global batch of the single-process order.

    Epoch e's order is the one a shuffled `DataLoader(batch_size, generator=manual_seed(seed + e))` yields in one
    process (the same torch machinery, so the same draws); rank r takes items r, r + world, ... of each global batch,
    so with a local batch of batch_size / world the union of step k's local batches is step k's global batch.
    """

    def __init__(self, dataset, dist: Dist, batch_size: int, seed: int, drop_last: bool) -> None:
        super().__init__(dataset, dist.world, dist.rank, shuffle=True, seed=seed, drop_last=drop_last)
        self.global_batch, self.drop_tail = batch_size, drop_last

    def _shares(self) -> list[list[int]]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        order = DataLoader(range(len(self.dataset)), self.global_batch, shuffle=True, generator=gen)
        batches = [b.tolist() for b in order]
        if self.drop_tail and batches and len(batches[-1]) < self.global_batch:
            batches.pop()
        return [b[self.rank :: self.num_replicas] for b in batches]

    def __iter__(self):
        return iter([i for share in self._shares() for i in share])

    def __len__(self) -> int:
        return sum(map(len, self._shares()))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def torchrun_command(nproc: int, argv: list[str], port: int) -> list[str]:
    """One node, `nproc` processes, rendezvous on 127.0.0.1:`port`."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        *argv,
    ]


def launch(nproc: int, argv: list[str]) -> None:
    """Re-run `argv` (a script and its arguments) under torchrun with `nproc` processes; a failure is one line."""
    cmd = torchrun_command(nproc, argv, free_port())
    log.info("launching %d processes: %s", nproc, " ".join(cmd))
    code = subprocess.run([*cmd], check=False).returncode  # an argument list, never a shell string
    if code != 0:
        raise FinegrainError(f"nproc: {nproc} torchrun processes of {' '.join(argv)} failed (exit {code}); see above")
