"""Run by tests/test_train_ddp.py under torchrun: trains, then each rank saves its weights.

    train_ddp_worker.py OUT plain   lenet5_modern (no batch norm), compared with 1 process
    train_ddp_worker.py OUT bn      resnet20 (batch norm) with test shards of unequal length
    train_ddp_worker.py OUT bn-resume   resume that run under torchrun for one more epoch
"""

import sys
from pathlib import Path

import torch

from cnnzoo.train import TrainConfig, prepare
from cnnzoo.train.distributed import setup, teardown

CONFIGS = {
    "plain": dict(model="lenet5_modern", batch_size=64, lr=0.2, epochs=2, limit_train=1024,
                  limit_test=300, augment=False),
    "bn": dict(model="resnet20", image_size=(8, 8), batch_size=32, lr=0.1, epochs=1,
               limit_train=256, limit_test=513),
}

out, config = Path(sys.argv[1]), sys.argv[2]
resume = config.endswith("-resume")  # continue the run in OUT for one more epoch
options = dict(CONFIGS[config.removesuffix("-resume")])
if resume:
    options["epochs"] += 1
cfg = TrainConfig(data="mnist", threads=1, out=str(out), **options)
ctx = setup(None)
trainer = prepare(cfg, ctx, log=lambda s: None, progress=False).trainer
if resume:
    trainer.resume()
trainer.fit()
weights = {k: v.clone() for k, v in trainer.raw.state_dict().items()}
torch.save(weights, out / f"rank{ctx.rank}.pt")
teardown(ctx)
