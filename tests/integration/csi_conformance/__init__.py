"""CSI Controller conformance suite (see conftest.py)."""
