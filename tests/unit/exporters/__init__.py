"""Pure tests of the exporters."""
