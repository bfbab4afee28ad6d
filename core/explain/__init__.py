"""Explaining single predictions on the Compare page and the CLI.

- `saliency`: Grad-CAM maps, where each model looks
- `corruptions`: ImageNet-C's 15 corruptions of one image, and the severity sweep
- `agreement`: whether the models agree on an image, the images × models matrix, top-5 bars
"""
