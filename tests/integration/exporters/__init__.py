"""Tests of the stream's exporters."""
