"""Metrics: pure functions on numpy arrays, each checked against an independent reference in tests."""

from core.metrics.bootstrap import (bootstrap_counts, bootstrap_interval, intervals_overlap, percentile_interval,
                                    proportion_interval)
from core.metrics.calibration import (DERIVED_COLUMNS, TemperatureFit, brier_score, derived_columns,
                                      ece_bootstrap_interval, ece_interval, expected_calibration_error,
                                      fit_temperature,
                                      maximum_calibration_error, negative_log_likelihood, reliability_bins, softmax)
from core.metrics.effective_robustness import (EffectiveRobustness, LineFit, bootstrap_lines,
                                                effective_robustness, fit_line, line_band)
from core.metrics.imagenet_x import (error_ratio_intervals, imagenet_x_error_ratios, imagenet_x_error_ratios_at,
                                     slice_accuracy)
from core.metrics.paired import (COMBINATION_RULE, Difference, bootstrap_p_value, combine_verdicts, decide,
                                 difference, difference_from_intervals, holm_adjust, image_cells, kth_highest_margin,
                                 newcombe_paired_interval, part_verdict, resample_weights, shared_images,
                                 stratified_accuracy, two_level_accuracy, weighted_accuracy, weighted_ece,
                                 weighted_error_ratios,
                                 weighted_shape_bias, ece_columns)
from core.metrics.selection import (RACE_RULE, SETTLE_RULE, Drop, best_share, dunnett_bounds, eliminate,
                                    mcnemar_sample_size, race_bounds, race_schedule, subsample_size,
                                    subsample_weights)
from core.metrics.shape_bias import shape_bias, shape_bias_per_class

__all__ = ["bootstrap_interval", "bootstrap_counts", "percentile_interval", "proportion_interval",
           "intervals_overlap", "DERIVED_COLUMNS", "derived_columns", "ece_interval", "ece_bootstrap_interval", "error_ratio_intervals", "expected_calibration_error", "maximum_calibration_error",
           "reliability_bins", "brier_score", "negative_log_likelihood", "fit_temperature", "TemperatureFit",
           "softmax", "imagenet_x_error_ratios", "imagenet_x_error_ratios_at", "slice_accuracy", "shape_bias",
           "shape_bias_per_class",
           "COMBINATION_RULE", "Difference", "bootstrap_p_value", "combine_verdicts", "decide", "difference",
           "holm_adjust", "image_cells", "newcombe_paired_interval", "part_verdict", "resample_weights",
           "shared_images", "weighted_accuracy", "weighted_ece", "weighted_error_ratios", "weighted_shape_bias",
           "stratified_accuracy", "two_level_accuracy", "kth_highest_margin", "difference_from_intervals", "ece_columns",
           "EffectiveRobustness", "LineFit", "bootstrap_lines", "effective_robustness", "fit_line", "line_band",
           "Drop", "RACE_RULE", "SETTLE_RULE", "best_share", "dunnett_bounds", "eliminate", "mcnemar_sample_size",
           "race_bounds", "race_schedule", "subsample_size", "subsample_weights"]
