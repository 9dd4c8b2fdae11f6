"""The case studies as experiments: one module per claim (see base.py), a runner, a report."""
