"""Apache Airflow provider for OneInbox, the voice-AI agent platform."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
