"""The web UI at /ui: a static single-page app served by the gateway, on the management API."""
