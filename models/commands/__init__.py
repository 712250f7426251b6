"""`depthal` sub-commands for the model library. Modules here import torch only inside their `run` functions."""
