"""`cnnzoo train`: train a model on a dataset, or resume a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnzoo.cli.common import parse_input_size, parse_model_options
from cnnzoo.errors import UsageError

_TRAIN_HELP = """examples:
  cnnzoo train lenet5 --data mnist --epochs 20
  cnnzoo train resnet20 --data fashion-mnist --image-size 28 --precision bf16
  cnnzoo train mobilenet_v2 --data cifar10 --width 0.5 --schedule onecycle
  cnnzoo train --resume runs/lenet5-mnist --epochs 30     (continue, or train longer)
  torchrun --standalone --nproc_per_node=2 -m cnnzoo train resnet20 --data mnist
Any other --option VALUE is a model option (`cnnzoo show NAME` lists them)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a dataset",
                       epilog=_TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="NAME", nargs="?", help="a model name (see `cnnzoo list`)")
    p.add_argument("--data", help="mnist, mnist-full, fashion-mnist, cifar10, cifar100, "
                   "folder:PATH (see `cnnzoo data list`)")
    p.add_argument("--data-root", metavar="DIR", help="where the dataset's files are")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/NAME-DATA[-N])")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from last.pt")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch size (default 128)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"))
    p.add_argument("--lr", type=float, help="peak learning rate (default: 0.1 x batch/256 "
                   "for SGD, 1e-3 for AdamW)")
    p.add_argument("--momentum", type=float)
    p.add_argument("--nesterov", action="store_true", default=None)
    p.add_argument("--weight-decay", type=float, help="not applied to norms and biases")
    p.add_argument("--schedule", choices=("step", "cosine", "onecycle", "constant"))
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--milestones", help="step schedule: epochs, e.g. 30,45 (default 50%%,75%%)")
    p.add_argument("--gamma", type=float, help="step schedule: factor at each milestone")
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                   help="bf16: autocast on CPU (AMX) or CUDA; fp16: CUDA only")
    p.add_argument("--channels-last", action="store_true", default=None)
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile")
    p.add_argument("--seed", type=int)
    p.add_argument("--image-size", metavar="H[,W]", help="model input side (default: card's)")
    p.add_argument("--in-chans", type=int, help="model input channels (default: the data's)")
    p.add_argument("--convert-channels", action="store_true", default=None,
                   help="feed grey images to an RGB model (or the reverse)")
    p.add_argument("--augment", metavar="LIST", type=_augment_list,
                   help="train-time augmentation: crop, flip, crop,flip or none (default: "
                   "the dataset's, e.g. crop,flip for Fashion-MNIST)")
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="the same as --augment none")
    p.add_argument("--init-weights", metavar="FILE",
                   help="start from these weights (torchvision .pth or cnnzoo .safetensors)")
    p.add_argument("--freeze", choices=("none", "features"),
                   help="features: train only the classifier")
    p.add_argument("--aux-weight", type=float, help="weight of auxiliary losses (0.3)")
    p.add_argument("--limit-train", type=int, metavar="N", help="train on N images only")
    p.add_argument("--limit-test", type=int, metavar="N", help="test on N images only")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--threads", type=int, help="CPU threads (default: one per core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train, accepts_model_options=True)


def _augment_list(text: str) -> bool | list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return False
    if not names or "none" in names:
        raise argparse.ArgumentTypeError(f"{text!r}: give crop, flip, crop,flip or none")
    return names


_CONFIG_KEYS = (
    "data", "data_root", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov",
    "weight_decay", "schedule", "warmup_epochs", "gamma", "label_smoothing", "precision",
    "channels_last", "compile", "seed", "augment", "in_chans", "init_weights", "freeze",
    "aux_weight", "limit_train", "limit_test", "device", "threads",
)


def _given(args: argparse.Namespace, extra: list[str]) -> dict:
    """The options given on the command line (None: not given)."""
    given = {k: getattr(args, k) for k in _CONFIG_KEYS}
    given["model"] = args.model
    if args.milestones:
        try:
            given["milestones"] = [float(m) for m in args.milestones.split(",")]
        except ValueError:
            raise UsageError(f"--milestones {args.milestones!r}: give epochs as 30,45") from None
    if args.image_size:
        given["image_size"] = list(parse_input_size(args.image_size, 1)[1:])
    if args.convert_channels:
        given["channels"] = "convert"
    if extra:
        given["model_options"] = parse_model_options(extra)
    return given


def _default_out(model: str, data: str) -> str:
    base = f"runs/{model}-{data.replace(':', '_').replace('/', '_')}"
    out, n = base, 1
    while (Path(out) / "last.pt").exists():
        n += 1
        out = f"{base}-{n}"
    return out


def run_train(args: argparse.Namespace, extra: list[str]) -> int:
    from cnnzoo.train import TrainConfig, resume_config, train

    given = _given(args, extra)
    if args.resume:
        if args.out and Path(args.out) != Path(args.resume):
            raise UsageError("--resume DIR continues the run in DIR; leave out --out")
        cfg = resume_config(args.resume, given)
    else:
        if not args.model or not args.data:
            raise UsageError("name a model and a dataset, e.g. `cnnzoo train lenet5 --data "
                             "mnist`, or continue a run with --resume DIR")
        options = {k: v for k, v in given.items() if v is not None}
        options["out"] = args.out or _default_out(args.model, args.data)
        cfg = TrainConfig(**options)
    result = train(cfg, resume=bool(args.resume), progress=not args.no_progress)
    if not result.is_main:
        return result.exit_code
    print(f"\n{cfg.model} on {cfg.data}: best test top-1 {100 * result.best_top1:.2f}% "
          f"(epoch {result.best_epoch}), final {100 * result.final_top1:.2f}%, "
          f"{result.seconds:.1f} s of training")
    out = result.out
    print(f"artefacts in {out}/: best.safetensors (weights), last.pt / best.pt "
          "(checkpoints), metrics.jsonl, curves.png")
    return result.exit_code
