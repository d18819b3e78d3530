"""Tools for tests, benchmarks and the demo: nginx-rtmp runner, publishers, synthetic clips and scenes.

Production code (detectors, policy, cases, runtime) never imports from here. The one entry point that does is
`livewarden demo`, which is itself a synthetic run: it draws sample rooms and streams them through a private
nginx-rtmp server (testing/demo.py), so a newcomer sees the whole system work in a minute.
"""
