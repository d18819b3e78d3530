"""Tools for tests, benchmarks and the demo: nginx-rtmp runner, publishers, synthetic clips and scenes.

Production code (detectors, policy, cases, runtime pipeline) never imports from here.
"""
