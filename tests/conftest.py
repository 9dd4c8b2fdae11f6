"""The order files reach xdist's workers in (`make test`, `make test-fast`: --dist loadfile).

Each file runs whole on one worker, and files are handed out in collection order, so the
largest files go first: a large file left for last keeps one worker busy while the other
waits. The list: the largest files by measured time (`--durations=0`, summed per file), of
the whole suite (test_docs_commands and test_train_resume are most of it) and then of the
fast tier; a file missing from it runs later, in its usual place. Tests within a file keep
their order (a docs page's commands build on each other).
"""

from __future__ import annotations

import pytest

LARGEST_FIRST = ("test_docs_commands.py", "test_train_resume.py", "test_interface.py",
                 "test_draw.py", "test_conformance.py", "test_train_ddp.py", "test_export.py",
                 "test_train.py", "test_features.py", "test_profile.py", "test_cli_bad_input.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LARGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept
