"""Test support shipped with the package: tiny random checkpoints in the official file formats."""
