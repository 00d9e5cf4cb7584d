"""Sweeps: a grid of configurations × folds × seeds (:mod:`.grid`) run as Ray tasks (:mod:`.ray_tasks`), kept
resumable (:mod:`.store`) and summarised with paired tests (:mod:`.runner`)."""
