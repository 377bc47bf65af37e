"""Serving: one Ray Serve application for every task (``app``), over a plain FastAPI app (``api``)."""
