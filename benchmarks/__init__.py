"""rivosim benchmarks: ``python -m benchmarks [http] [seeding] [startup] [--quick]``.

Every figure is printed next to a baseline measured in the same run (a ratio, never an absolute number to
compare across machines). Benchmarks report; they do not gate: the exit status is 0 even when a target is missed.
"""
