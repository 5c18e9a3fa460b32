"""The screens: :mod:`watch_screen` for a run, :mod:`explore_screen` for a study."""
