"""Data the planner ships: the measured-runs dataset (planner/calibrate/records.py)."""
