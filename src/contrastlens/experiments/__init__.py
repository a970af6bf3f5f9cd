"""Experiments: named training presets (`presets`), the resumable sweep runner (`sweep`), the
studies behind `contrastlens reproduce` (`studies`: definitions, data) and the engine that runs
them (`engine`), and evaluating a run folder (`evaluate_run`)."""
