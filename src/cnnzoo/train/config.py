"""Everything a training run needs to know, validated up front (before any data is read)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cnnzoo.data.pipeline import check_augmentations
from cnnzoo.errors import TrainingError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("step", "cosine", "onecycle", "constant")
PRECISIONS = ("fp32", "bf16", "fp16")
FREEZE = ("none", "features")


@dataclass
class TrainConfig:
    model: str
    data: str = "mnist"
    data_root: str | None = None
    out: str = "runs/run"
    epochs: int = 10
    batch_size: int = 128  # global: split over the processes under torchrun
    optimizer: str = "sgd"
    lr: float | None = None  # None: 0.1 x batch/256 for SGD (linear scaling), 1e-3 for AdamW
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float | None = None  # None: 5e-4 for SGD, 0.05 for AdamW
    schedule: str = "cosine"
    warmup_epochs: float | None = None  # None: 0, or 30% of the run for one-cycle
    milestones: tuple[float, ...] = ()  # step schedule: epochs; () -> 50% and 75% of the run
    gamma: float = 0.1
    label_smoothing: float = 0.0
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    image_size: tuple[int, int] | None = None  # None: the model card's
    in_chans: int | None = None  # None: the dataset's channel count
    # True: the dataset's train-time augmentation (crop, flip); False: none; or the names
    # to use, e.g. ("flip",): short runs of small models fit faster without the random crop.
    augment: bool | tuple[str, ...] = True
    channels: str = "strict"  # or "convert": grey <-> RGB on a mismatch
    init_weights: str | None = None
    freeze: str = "none"
    aux_weight: float = 0.3  # GoogLeNet paper: auxiliary losses weighted by 0.3
    limit_train: int | None = None  # a seeded random subset, for quick runs and tests
    limit_test: int | None = None
    device: str | None = None  # None: cuda if available, else cpu
    threads: int | None = None  # CPU threads; None: torch's default (one per core)
    model_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.milestones = tuple(float(m) for m in self.milestones)
        if not isinstance(self.augment, bool):
            self.augment = tuple(self.augment)
        if self.image_size is not None:
            self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        self.validate()

    def validate(self) -> None:
        def bad(msg: str) -> TrainingError:
            return TrainingError(msg)

        if self.optimizer not in OPTIMIZERS:
            raise bad(f"unknown optimizer {self.optimizer!r}; choose {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise bad(f"unknown schedule {self.schedule!r}; choose {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise bad(f"unknown precision {self.precision!r}; choose {', '.join(PRECISIONS)}")
        if self.freeze not in FREEZE:
            raise bad(f"unknown --freeze {self.freeze!r}; choose {', '.join(FREEZE)}")
        if self.channels not in ("strict", "convert"):
            raise bad(f"unknown --channels {self.channels!r}; choose strict or convert")
        if self.epochs < 1:
            raise bad(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise bad(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            raise bad(f"--lr must be positive, got {self.lr}")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise bad(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise bad(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs <= self.epochs:
            raise bad(f"--warmup-epochs must be in [0, --epochs], got {self.warmup_epochs}")
        if any(not 0 < m < self.epochs for m in self.milestones):
            raise bad(f"--milestones must lie strictly between 0 and {self.epochs} epochs")
        for name in ("limit_train", "limit_test", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise bad(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if not isinstance(self.augment, bool):
            check_augmentations(self.augment, TrainingError)
        if self.image_size is not None and (
            len(self.image_size) != 2 or min(self.image_size) < 1
        ):
            raise bad(f"--image-size must be one or two positive sides, got {self.image_size}")

    # -- derived defaults ------------------------------------------------------------

    @property
    def base_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.1 * self.batch_size / 256 if self.optimizer == "sgd" else 1e-3

    @property
    def wd(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 5e-4 if self.optimizer == "sgd" else 0.05

    @property
    def warmup(self) -> float:
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return 0.3 * self.epochs if self.schedule == "onecycle" else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        if not isinstance(self.augment, bool):
            d["augment"] = list(self.augment)
        d["image_size"] = list(self.image_size) if self.image_size else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
