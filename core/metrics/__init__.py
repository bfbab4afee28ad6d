"""Metrics: pure functions on numpy arrays, each checked against an independent reference in tests."""

from core.metrics.bootstrap import bootstrap_interval, intervals_overlap
from core.metrics.calibration import (TemperatureFit, brier_score, expected_calibration_error, fit_temperature,
                                      maximum_calibration_error, negative_log_likelihood, reliability_bins, softmax)
from core.metrics.imagenet_x import imagenet_x_error_ratios, slice_accuracy
from core.metrics.shape_bias import shape_bias, shape_bias_per_class

__all__ = ["bootstrap_interval", "intervals_overlap", "expected_calibration_error", "maximum_calibration_error",
           "reliability_bins", "brier_score", "negative_log_likelihood", "fit_temperature", "TemperatureFit",
           "softmax", "imagenet_x_error_ratios", "slice_accuracy", "shape_bias", "shape_bias_per_class"]
