"""The direct path: graphc's fused kernels compiled by LLVM without Numba (docs/codegen.md).

translate.py and calls.py turn a kernel's Python source (the same text
f.source shows) into LLVM IR typed as Numba types it; entry.py adds its
CPython entry; engine.py optimises, caches and loads the object code;
kernel.py decides which kernels take this path and stands in for them until
their first call. Everything else, and any kernel these do not accept,
compiles with Numba as before.
"""
