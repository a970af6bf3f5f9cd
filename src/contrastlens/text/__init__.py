"""The text study's runs: fine-tune all-MiniLM-L6-v2 on WordNet (example -> definition) with
sentence-transformers' own trainer and losses, VRN and GOR added, and evaluate retrieval and the
similarity lens (the text study).

    text_config.py  TextConfig and `--set key=value` overrides (standard library)
    retrieval.py    retrieval (MRR@10, Recall@1, Recall@10) and the similarity lens of a model
    trainer.py      train_text(cfg): one run into a run folder (contrastlens.runfolder's files)

`contrastlens train-text` runs one; `contrastlens reproduce --preset text-{smoke,quick,full}`
runs the study (contrastlens.experiments.studies). Needs the sentence-transformers extra.
"""
