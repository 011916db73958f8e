"""Evaluation of CLOUD checkpoints: leak-free folds, baselines, metrics files and the generated model card."""
