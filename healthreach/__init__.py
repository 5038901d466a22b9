"""healthreach: who can reach care, how fast, and what a new site would change."""
from __future__ import annotations

__version__ = "0.1.0"
