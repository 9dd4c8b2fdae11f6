import sys

from cnnzoo.cli import main

# Guarded: the studies' worker processes (multiprocessing's spawn) import the main module.
if __name__ == "__main__":
    sys.exit(main())
