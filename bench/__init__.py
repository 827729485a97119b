"""Benchmarks and tuning: SciFact quality, latency, ingestion, scale, cold start."""
