"""The block interpreter: large fused groups run as int32 programs in one precompiled loop.

`run.py` is generated from the ops' scalar templates (`python -m
graphc.backend.blocks`); `link.py` exports its entry points as C functions and
gives generated code `interpret_f64`/`interpret_f32`, calls of those symbols.
The order of imports is runtime <- interpreter.run <- interpreter.link: no cycle.
See graphc/backend/blocks.py for why graphs use it.
"""
