"""Detectors: each turns one item (a Frame) into zero or more Signals."""
