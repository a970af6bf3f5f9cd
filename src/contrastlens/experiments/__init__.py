"""Experiments: named training presets (`presets`), the resumable sweep runner (`sweep`), the
study presets behind `contrastlens reproduce` (`study`), and evaluating a run folder
(`evaluate.evaluate_run`)."""
