"""Benchmarks of airflow-provider-oneinbox (not part of the installed package)."""
