"""The one declaration of a training run, validated up front (before any data is read).

Each field of TrainConfig carries its default, type, help text, choices and bounds; the
`cnnzoo train` flags (cli/train.py), the checkpoint record (`to_dict`), the recipes'
checks (train/recipes.py) and the error messages are all generated from it, as nanoGPT's
configurator derives the overridable keys from the config it declares. Errors name the
field (`epochs must be >= 1, got 0`); the CLI maps the field to its flag.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cnnzoo.data.pipeline import check_augmentations
from cnnzoo.errors import CnnzooError, ConfigError, UsageError
from cnnzoo.precision import precision_arg, precision_name, words

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("step", "cosine", "onecycle", "constant")
FREEZE = ("none", "features")
CHANNELS = ("strict", "convert")



@dataclass(frozen=True)
class Bound:
    """A numeric range, printed as its check reads: '>= 1', '> 0', 'in [0, 1)'."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, v: float) -> bool:
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")


AT_LEAST_1 = Bound(1)
NON_NEGATIVE = Bound(0)
UNIT = Bound(0, 1, high_open=True)  # [0, 1): momentum, weight decay, label smoothing
# The sane ranges of the optimiser's numbers: finite is not enough (`--lr 1e37` would
# "train" straight to NaN). No published recipe goes near these ends: SGD's peak rates reach
# about 1 (large-batch ImageNet: 0.1 x batch/256), weight decay 0.1 (AdamW), auxiliary
# losses a weight of 1.
MAX_LR = 10.0
MAX_AUX_WEIGHT = 10.0
# torch.set_num_threads(100000) then hangs the first parallel op; no machine has 1024 cores.
MAX_THREADS = 1024


def setting(default: Any = MISSING, help: str = "", *, factory: Any = MISSING,
            bound: Bound | None = None, choices: tuple[str, ...] | None = None,
            flag: str | None = None, metavar: str | None = None,
            parse: Callable[[str], Any] | None = None, negatable: bool = False,
            const: Any = None, internal: str = "", resumable: bool = False,
            computes: bool = True, recipe: bool = True) -> Any:
    """A TrainConfig field with what the CLI and the checks need to know about it.

    flag: the CLI flag where it is not --field-name ('NAME' without dashes: positional);
    parse: turns the flag's text into the value; negatable: --no-FLAG sets False;
    const: the flag takes no value and sets this one; internal: why there is no flag.
    Its roles: resumable: a resumed run may change it (any other field given on resume must
    equal the stored one: a resumed run is the same run); computes: it changes what the run
    computes (False: only where it goes, where its data is read from, what else it writes;
    the studies' cache leaves it out of a run's hash); recipe: a recipe may set it (False:
    which run, where, on what hardware, which is not a recipe)."""
    meta = {"help": help, "bound": bound, "choices": choices, "flag": flag,
            "metavar": metavar, "parse": parse, "negatable": negatable, "const": const,
            "internal": internal, "resumable": resumable, "computes": computes,
            "recipe": recipe}
    return field(default=default, default_factory=factory, metadata=meta)


def _number_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"{text!r}: give epochs as numbers, e.g. 30,45") from None


def _size(text: str) -> tuple[int, int]:
    try:
        sides = [int(t) for t in text.replace("x", ",").split(",")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2):
        raise ValueError(f"{text!r}: give one side or H,W, e.g. 28 or 32,28")
    return (sides[0], sides[-1])


def _augment_list(text: str) -> bool | tuple[str, ...]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return False
    if not names or "none" in names:
        raise ValueError(f"{text!r}: give crop, flip, crop,flip or none")
    return tuple(names)


@dataclass
class TrainConfig:
    model: str = setting(help="a model name (see `cnnzoo list`)", flag="NAME", recipe=False)
    data: str = setting("mnist", "mnist, mnist-full, fashion-mnist, cifar10, cifar100 or "
                        "folder:PATH (see `cnnzoo data list`)", recipe=False)
    data_root: str | None = setting(None, "where the dataset's files are (default: the "
                                    "dataset's usual places)", metavar="DIR",
                                    computes=False, recipe=False)
    out: str = setting("runs/run", "run directory (default: runs/run; `cnnzoo train`: "
                       "runs/NAME-DATA, then -2, -3... if taken)", metavar="DIR",
                       resumable=True, computes=False, recipe=False)
    recipe: str | None = setting(
        None, "the recipe the run started from: NAME or none (default: the model's recipe "
        "for the data, see `cnnzoo show NAME`); any flag overrides one of its fields",
        metavar="NAME", recipe=False)
    epochs: int = setting(10, "passes over the training set", bound=AT_LEAST_1,
                          resumable=True)
    batch_size: int = setting(128, "global batch size: split over the processes under "
                              "torchrun", bound=AT_LEAST_1)
    optimizer: str = setting("sgd", "SGD with momentum, or AdamW", choices=OPTIMIZERS)
    lr: float | None = setting(None, "peak learning rate (default: 0.1 x batch/256 for SGD, "
                               "1e-3 for AdamW)", bound=Bound(0, MAX_LR, low_open=True),
                               resumable=True)  # after a NaN stop: resume at a lower rate
    momentum: float = setting(0.9, "SGD momentum", bound=UNIT)
    nesterov: bool = setting(False, "Nesterov momentum (SGD)")
    weight_decay: float | None = setting(
        None, "weight decay, never on norms and biases (default: 5e-4 for SGD, 0.05 for "
        "AdamW)", bound=UNIT)
    schedule: str = setting("cosine", "learning-rate schedule over the run", choices=SCHEDULES)
    warmup_epochs: float | None = setting(
        None, "linear warm-up in epochs, within the run (default: 0; 30% of the run for "
        "onecycle)", bound=NON_NEGATIVE)
    milestones: tuple[float, ...] = setting(
        help="step schedule: the epochs where the rate is multiplied by --gamma, strictly "
        "inside the run (default: 50%,75% of it)", factory=tuple, parse=_number_list,
        metavar="E,E")
    gamma: float = setting(0.1, "step schedule: factor at each milestone",
                           bound=Bound(0, 1, low_open=True))
    label_smoothing: float = setting(0.0, "label smoothing of the loss", bound=UNIT)
    precision: str = setting("fp32", f"{words()}: bf16 autocasts on CPU (AMX) or CUDA, fp16 "
                             "on CUDA only", parse=precision_arg(), metavar="P")
    channels_last: bool = setting(False, "channels_last memory format (oneDNN's "
                                  "convolutions prefer it)")
    compile: bool = setting(False, "torch.compile the model")
    seed: int = setting(0, "initial weights, data order and augmentation")
    image_size: tuple[int, int] | None = setting(
        None, "model input side (default: the model card's)", parse=_size, metavar="H[,W]")
    in_chans: int | None = setting(None, "model input channels (default: the data's)",
                                   bound=AT_LEAST_1)
    augment: bool | tuple[str, ...] = setting(
        True, "train-time augmentation: crop, flip, crop,flip or none (default: the "
        "dataset's, e.g. crop,flip for Fashion-MNIST); --no-augment: none",
        parse=_augment_list, negatable=True, metavar="LIST")
    channels: str = setting("strict", "feed grey images to an RGB model (or the reverse) "
                            "instead of refusing", choices=CHANNELS, flag="--convert-channels",
                            const="convert")
    init_weights: str | None = setting(None, "start from these weights (torchvision .pth or "
                                       "cnnzoo .safetensors)", metavar="FILE", recipe=False)
    freeze: str = setting("none", "features: train only the classifier", choices=FREEZE)
    aux_weight: float = setting(0.3, "weight of the auxiliary losses (GoogLeNet paper: 0.3)",
                                bound=Bound(0, MAX_AUX_WEIGHT))
    limit_train: int | None = setting(None, "train on a seeded random N images only",
                                      bound=AT_LEAST_1, metavar="N", recipe=False)
    limit_test: int | None = setting(None, "test on N images only", bound=AT_LEAST_1,
                                     metavar="N", recipe=False)
    device: str | None = setting(None, "cpu, cuda, cuda:1 (default: cuda if available)",
                                 resumable=True, computes=False, recipe=False)
    threads: int | None = setting(None, "CPU threads (default: the cores other processes "
                                  "leave free, judged again every 2 s)",
                                  bound=Bound(1, MAX_THREADS), resumable=True, recipe=False)
    tensorboard: bool = setting(False, "also write metrics.jsonl's scalars as TensorBoard "
                                "events in OUT/tensorboard (the tensorboard extra)",
                                resumable=True, computes=False, recipe=False)
    model_options: dict[str, Any] = setting(
        factory=dict, internal="any other --option VALUE is a model option (`cnnzoo show "
        "NAME` lists them)", recipe=False)

    def __post_init__(self) -> None:
        if isinstance(self.milestones, (list, tuple)):
            self.milestones = tuple(self.milestones)
        if isinstance(self.augment, list):
            self.augment = tuple(self.augment)
        if isinstance(self.image_size, list):
            self.image_size = tuple(self.image_size)  # type: ignore[assignment]
        try:  # any word or dtype of the vocabulary, stored by its canonical name
            self.precision = precision_name(self.precision)
        except UsageError:
            raise ConfigError("precision", f"{self.precision!r} is not one of "
                              f"{words()}") from None  # the field named first, as elsewhere
        self.validate()

    def validate(self) -> None:
        """ConfigError naming the first field that is out of range or of the wrong type."""
        hints = _hints()
        for f in fields(self):
            value = getattr(self, f.name)
            _check_type(f.name, value, hints[f.name])
            if isinstance(value, str) and not value.strip():  # `--out ''` was the cwd
                raise ConfigError(f.name, "must not be empty")
            choices, bound = f.metadata["choices"], f.metadata["bound"]
            if choices and value not in choices:
                raise ConfigError(f.name, f"{value!r} is not one of {', '.join(choices)}")
            if bound is not None and value is not None and (
                not math.isfinite(value) or value not in bound
            ):
                raise ConfigError(f.name, f"must be {bound}, got {value}")
        if self.warmup_epochs is not None and self.warmup_epochs > self.epochs:
            raise ConfigError("warmup_epochs", f"must be at most epochs ({self.epochs}), "
                              f"got {self.warmup_epochs}")
        for m in self.milestones:
            if not (math.isfinite(m) and 0 < m < self.epochs):
                raise ConfigError("milestones", f"must lie strictly between 0 and epochs "
                                  f"({self.epochs}), got {m}")
        if not isinstance(self.augment, bool):
            try:
                check_augmentations(self.augment)
            except CnnzooError as e:
                raise ConfigError("augment", str(e)) from None
        if self.image_size is not None and (
            len(self.image_size) != 2 or min(self.image_size) < 1
        ):
            raise ConfigError("image_size", f"must be one or two positive sides, got "
                              f"{self.image_size}")

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

    # -- the record ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (tuples as lists): what a checkpoint stores."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a JSON file (a run's config.json, or one written by hand: any subset
    of TrainConfig's fields); UsageError naming the file and the fix when it is missing,
    not JSON, not an object or names a setting that does not exist. Values are checked
    where the config is built."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file; give a run's config.json or a JSON "
                         "file of settings") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--config {path} cannot be read ({e}); give a JSON file") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--config {path} is not JSON (line {e.lineno}: {e.msg}); give a "
                         "run's config.json or a JSON object of settings") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path} holds a JSON {type(values).__name__}, not an object "
                         'of settings such as {"epochs": 5}')
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"--config {path}: unknown setting(s) {', '.join(unknown)}; the "
                         f"settings are TrainConfig's fields: {', '.join(sorted(known))}")
    hints = _hints()
    for key, value in values.items():  # JSON has lists where the config has tuples
        plain = tuple(value) if isinstance(value, list) else value
        if not _accepts(plain, hints[key]):
            raise UsageError(f"--config {path}: {key} must be {_type_words(hints[key])}, got "
                             f"{value!r}")
    return values


_HINTS: dict[str, Any] = {}


def _hints() -> dict[str, Any]:
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(TrainConfig))
    return _HINTS


def _accepts(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is tuple:
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return isinstance(value, tuple) and all(_accepts(v, args[0]) for v in value)
    return isinstance(value, origin or hint)


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
          type(None): "None", dict: "a mapping"}


def _type_words(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_words(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        item = _type_words(typing.get_args(hint)[0]).split(" ", 1)[-1]  # "a number": number
        return f"a list of {item}s"
    return _WORDS.get(typing.get_origin(hint) or hint, str(hint))


def _check_type(name: str, value: Any, hint: Any) -> None:
    if not _accepts(value, hint):
        raise ConfigError(name, f"must be {_type_words(hint)}, got {value!r}")


def config_fields() -> tuple[Any, ...]:
    """TrainConfig's fields, in order, with their metadata (for the CLI and the docs)."""
    return fields(TrainConfig)


def field_type(name: str) -> Any:
    """The resolved type annotation of a field (e.g. `int | None`)."""
    return _hints()[name]


def as_recorded(value: Any) -> Any:
    """A setting as a run's record holds it (JSON: tuples become lists), so that a value
    given and a value read back compare equal."""
    return list(value) if isinstance(value, tuple) else value


def fields_where(role: str, value: bool = True) -> tuple[str, ...]:
    """The names of the fields whose `role` (resumable, computes, recipe) is `value`."""
    return tuple(f.name for f in fields(TrainConfig) if f.metadata[role] is value)


# What a resumed run may change: epochs (to train longer), lr (after a NaN stop, the last
# finite checkpoint at a lower peak rate), where it runs and writes.
RESUMABLE = fields_where("resumable")
