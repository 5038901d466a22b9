"""Partitioned runs: a project split into county areas (`counties`) and any function run over parts
as Dask tasks with resume (`runner`). Imports nothing from the analysis: the analysis and the siting
hand their per-area function to the runner."""
