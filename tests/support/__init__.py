"""Shared helpers and fixtures of the test suite; no test module imports another."""
