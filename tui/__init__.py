"""Terminal UI: ``s2d watch`` follows a run directory live, ``s2d explore`` browses a planner study.

The package splits into a UI-free core (run state, downsampled series, run
directory checks, the file follower, the study adapter), which only needs
``planner`` and the standard library, and the Textual layer on top (apps,
screens, one widget per file, ``s2d.tcss``). Nothing here imports torch or the
trainer: the UI reads what the trainer writes, never its code.
"""
