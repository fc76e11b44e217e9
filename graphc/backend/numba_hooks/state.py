"""Which Numba hooks are active: one record shared by the hook modules.

Owns: `HOOKS` (hook name -> applied on this Numba; filled on first use, read
by tests and compile stats). Imports: nothing. Entry point: `HOOKS`.
"""

HOOKS: dict[str, bool] = {}
