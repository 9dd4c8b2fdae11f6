"""cnnzoo under Lightning: its Trainer calls `set_epoch` on the train loader's `sampler`
each epoch, which must reach cnnzoo's BatchLoader (else every epoch repeats the first)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnzoo import create_model
from cnnzoo.data import BatchLoader, build_transform, load_dataset

L = pytest.importorskip("lightning")

EPOCHS, STEPS, BATCH, SEED = 3, 2, 16, 5


class _Classifier(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = create_model("lenet5", num_classes=10)
        self.first_labels: list[list[int]] = []  # the first batch's labels, per epoch

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        if index == 0:
            self.first_labels.append(y.tolist())
        return torch.nn.functional.cross_entropy(self.model(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.model.parameters(), lr=0.01)


def _loader() -> BatchLoader:
    ds = load_dataset("mnist")
    tf = build_transform(ds, (1, 32, 32), train=True)
    return BatchLoader(ds.train.take(256), BATCH, transform=tf, shuffle=True, seed=SEED)


@pytest.mark.slow
def test_lightning_trains_a_new_order_each_epoch_the_same_as_cnnzoo(tmp_path: Path) -> None:
    module = _Classifier()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=EPOCHS,
                        limit_train_batches=STEPS, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    trainer.fit(module, train_dataloaders=_loader())
    assert trainer.current_epoch == EPOCHS
    seen = module.first_labels
    assert len(seen) == EPOCHS and len({tuple(s) for s in seen}) == EPOCHS  # orders differ
    own = _loader()
    expected = []
    for epoch in range(EPOCHS):
        own.set_epoch(epoch)
        expected.append(next(iter(own))[1].tolist())
    assert seen == expected
    assert list(tmp_path.iterdir()) == []  # no logs or checkpoints written anywhere


def test_sampler_set_epoch_is_the_loader_epoch() -> None:
    loader = _loader()
    first = loader.indices().tolist()
    loader.sampler.set_epoch(2)
    assert loader.epoch == 2 and loader.indices().tolist() != first
    assert list(loader.sampler) == loader.indices().tolist()
    assert len(loader.sampler) == loader.num_samples == 256
    loader.set_epoch(0)
    assert loader.sampler.epoch == 0 and list(loader.sampler) == first
