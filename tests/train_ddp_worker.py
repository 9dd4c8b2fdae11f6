"""Run by tests/test_train_ddp.py under torchrun: trains, then each rank saves its weights."""

import sys
from pathlib import Path

import torch

from cnnzoo.train import TrainConfig, prepare
from cnnzoo.train.distributed import setup, teardown

out = Path(sys.argv[1])
cfg = TrainConfig(model="lenet5_modern", data="mnist", batch_size=64, lr=0.2, epochs=2,
                  limit_train=1024, limit_test=300, augment=False, threads=1, out=str(out))
ctx = setup(None)
trainer = prepare(cfg, ctx, log=lambda s: None, progress=False).trainer
trainer.fit()
weights = {k: v.clone() for k, v in trainer.raw.state_dict().items()}
torch.save(weights, out / f"rank{ctx.rank}.pt")
teardown(ctx)
