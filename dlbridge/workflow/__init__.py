"""Workflows over both sides: the embedded demo (:mod:`.demo`) and parameter sweeps with their
executors (:mod:`.sweep`, :mod:`.sweep_cli`)."""
