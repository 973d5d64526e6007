"""Vetting as the Baseline Requirements ask it (S-2 審査, P-2): domain control, CAA, organization."""
