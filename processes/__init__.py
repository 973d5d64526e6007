"""Reaching the workflows from outside them (API, CLI, start-up): ``client`` is the one module
that starts, signals, updates and queries them; ``connection`` connects to Temporal."""
