"""Benchmark datasets: one adapter per standard on-disk layout, and the registry that names them."""

from core.data.base import DatasetInvalid, Item, Problem
from core.data.registry import BENCHMARKS, BenchmarkSpec, get_benchmark, load_items

__all__ = ["BENCHMARKS", "BenchmarkSpec", "DatasetInvalid", "Item", "Problem", "get_benchmark", "load_items"]
