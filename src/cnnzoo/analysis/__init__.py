"""Tracing a model on the meta device: the one walker (`trace.Tracer`) that the cost
analysis, the architecture table, the diagrams and `features_only` read, with what it
knows of each operator (`ops`: cost and receptive field; `describe`: what it is)."""
