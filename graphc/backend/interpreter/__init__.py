"""The block interpreter: large fused groups run as int32 programs in one precompiled loop.

In the order a group passes through it: `opcodes.py` (which ops it runs, by
which opcode: an append-only table read from run.py), `program.py` (a group
-> instructions and registers), `source.py` (writes run.py from the ops'
scalar templates: `python -m graphc.backend.interpreter.source`), `run.py`
(generated, committed), `link.py` (run.py's entry points as C functions;
`interpret_f64`/`interpret_f32` for generated code). Imports run one way:
runtime <- run <- link, so there is no cycle. backend/policy.py says which
groups use it, and why.
"""
