"""inference/segmentation."""
