"""Run by tests/test_train_resume.py: `cnnzoo train ARGS...` that sends itself a signal at
a fixed training step, so that an interruption lands at a known point however busy the
machine is (a test that slept and then signalled landed elsewhere under load).

    train_signalled.py SIGNAL STEP cnnzoo-train-arguments...

STEP counts from 0 over the whole run (epoch * steps an epoch + step in the epoch); the
signal is sent as that step begins, so that step completes and the loop stops before the
next one (SIGKILL: the process dies at once, inside that step).
"""

import os
import signal
import sys

from cnnzoo.cli import main
from cnnzoo.train.optim import Schedule

SIGNUM = signal.Signals[sys.argv[1]]
AT = int(sys.argv[2])
_apply = Schedule.apply


def _apply_and_signal(self: Schedule, optimizer, step: int) -> float:
    if step == AT:
        os.kill(os.getpid(), SIGNUM)
    return _apply(self, optimizer, step)


Schedule.apply = _apply_and_signal  # the loop calls it once a step, before the forward
sys.exit(main(["train", *sys.argv[3:]]))
