"""Hardening tests: bad inputs, crashes, faults and security checks across the whole program."""
