"""Offline data builders: structure corpora from installed packages, the pre-training SCOPE corpus, pool files."""
