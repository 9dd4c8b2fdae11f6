"""BatchLoader: batches straight from an in-memory split, transformed a batch at a time.

Everything random is a pure function of (seed, epoch, rank, batch index): the order of an
epoch comes from (seed, epoch), each batch's augmentation from its own generator. So
`set_epoch(e)` (and `start_batch`) resume a run exactly, and no worker processes are needed.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch

from cnnzoo.data.dataset import Split
from cnnzoo.data.transforms import Transform
from cnnzoo.errors import DatasetError


def _seed(*parts: int) -> int:
    # SeedSequence mixes the parts well: nearby (seed, epoch) pairs get unrelated streams.
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts])
               .generate_state(1, np.uint64)[0] & 0x7FFFFFFFFFFFFFFF)


class EpochSampler(torch.utils.data.Sampler[int]):
    """The order a BatchLoader follows: this rank's example indices for the current epoch.

    It is the loader's `sampler`, where loops written for PyTorch's DataLoader (Lightning,
    a hand loop with DistributedSampler's convention) call `sampler.set_epoch(e)` before each
    epoch; the loader reads its epoch from here, so `loader.set_epoch(e)` and
    `loader.sampler.set_epoch(e)` are the same call.
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int, rank: int, world_size: int,
                 even: bool) -> None:
        self.size = int(size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.even = even
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order (and the loader's augmentation) to produce."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Examples this rank sees per epoch (padded when `even`)."""
        if self.even:
            return math.ceil(self.size / self.world_size)
        return len(range(self.rank, self.size, self.world_size))

    def indices(self) -> torch.Tensor:
        """This rank's example indices for the current epoch, in order."""
        n = self.size
        if self.shuffle:
            g = torch.Generator().manual_seed(_seed(self.seed, self.epoch))
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        if self.even and n % self.world_size:
            pad = self.world_size - n % self.world_size
            order = torch.cat([order, order.repeat(math.ceil(pad / n))[:pad]])
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())


class BatchLoader:
    """Iterate (images, labels) batches of a Split.

    images come out as the transform's float tensor on `device` (channels_last if asked),
    labels as int64 on `device`. With world_size > 1 each rank gets every world_size-th
    example of the epoch's order; `even=True` (training) pads by repeating the start so all
    ranks see the same number of batches, `even=False` (evaluation) leaves shards unpadded so
    every example is counted exactly once. The order and the epoch live in `sampler` (an
    EpochSampler), so any loop that calls `loader.sampler.set_epoch(e)` gets epoch e.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        transform: Transform | None = None,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        even: bool = True,
        device: str | torch.device | None = None,
        channels_last: bool = False,
        prefetch: int = 0,
    ) -> None:
        if batch_size <= 0:
            raise DatasetError(f"batch size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise DatasetError(f"rank {rank} is not in a world of {world_size}")
        if len(split) == 0:
            raise DatasetError(f"{split.source or 'the split'} is empty: nothing to load")
        self.split = split
        self.batch_size = int(batch_size)
        self.transform = transform
        self.drop_last = drop_last
        self.sampler = EpochSampler(len(split), shuffle=shuffle, seed=seed, rank=rank,
                                    world_size=world_size, even=even)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.channels_last = channels_last
        self.prefetch = int(prefetch)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentation to produce (as DistributedSampler)."""
        self.sampler.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    @property
    def seed(self) -> int:
        return self.sampler.seed

    @property
    def rank(self) -> int:
        return self.sampler.rank

    @property
    def num_samples(self) -> int:
        """Examples this rank sees per epoch (before drop_last)."""
        return len(self.sampler)

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def indices(self) -> torch.Tensor:
        """This rank's example indices for the current epoch, in order."""
        return self.sampler.indices()

    def _make_batch(self, idx: torch.Tensor, number: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.split.batch(idx)
        y = self.split.labels[idx]
        if self.device.type != "cpu":
            x = x.pin_memory().to(self.device, non_blocking=True)
            y = y.pin_memory().to(self.device, non_blocking=True)
        if self.transform is not None:
            g = None
            if self.transform.random:
                g = torch.Generator().manual_seed(
                    _seed(self.seed, self.epoch, self.rank, number, 1))
            x = self.transform(x, g)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        else:
            x = x.contiguous()
        return x, y

    def _batches(self, start_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.indices()
        for number in range(start_batch, len(self)):
            idx = order[number * self.batch_size:(number + 1) * self.batch_size]
            yield self._make_batch(idx, number)

    def iter_from(self, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The current epoch's batches from `start_batch` on (to resume inside an epoch)."""
        if self.prefetch <= 0:
            return self._batches(start_batch)
        return _prefetched(self._batches(start_batch), self.prefetch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iter_from(0)


def _prefetched(batches: Iterator, depth: int) -> Iterator:
    """Produce batches in a background thread (decoding overlaps compute: torch and Pillow
    release the GIL)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
