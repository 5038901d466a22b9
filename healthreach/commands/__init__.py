"""The commands' work as library calls (the command line only parses arguments and shows progress)."""
from healthreach.commands.optimize import optimize_project
from healthreach.commands.run import SAMPLES, compare_project, run_demo, run_project, sample_dir
from healthreach.commands.setup import Options, Prepared, prepare
from healthreach.commands.validate import validate_inputs

__all__ = ["SAMPLES", "Options", "Prepared", "compare_project", "optimize_project", "prepare", "run_demo",
           "run_project", "sample_dir", "validate_inputs"]
