"""tests/inference/segmentation."""
