"""A GAN-like step per call: `python benchmarks/bench_gan.py jax|numba|numpy` (graphc from PYTHONPATH).

Generator 10-128-256-64 (relu, tanh out), discriminator 64-256-128-1 (relu), f32, batch
128 as a named size; both losses (softplus form) and the gradients of each loss for its
network's 6 parameters. Prints median wall and process-CPU time per call (7 x 100 calls).
"""
import os
import statistics
import sys
import time

import numpy as np

B, Z, D = 128, 10, 64
G = [(Z, 128), (128, 256), (256, D)]
Dl = [(D, 256), (256, 128), (128, 1)]
rng = np.random.default_rng(0)
vals = {"noise": rng.standard_normal((B, Z)).astype("float32"),
        "real": rng.standard_normal((B, D)).astype("float32")}
for p, layers in (("g", G), ("d", Dl)):
    for i, (m, n) in enumerate(layers):
        vals[f"{p}W{i}"] = (rng.standard_normal((m, n)) / np.sqrt(m)).astype("float32")
        vals[f"{p}b{i}"] = np.zeros(n, "float32")
names = list(vals)
def net(xp, params, x, act, last):
    for i in range(3):
        x = x @ params[2 * i] + params[2 * i + 1]
        x = act(x) if i < 2 else last(x)
    return x
def losses(xp, noise, real, *ps):
    gp, dp = ps[:6], ps[6:]
    fake = net(xp, gp, noise, xp["relu"], xp["tanh"])
    lr = net(xp, dp, real, xp["relu"], lambda x: x)
    lf = net(xp, dp, fake, xp["relu"], lambda x: x)
    d_loss = xp["mean"](xp["softplus"](-lr)) + xp["mean"](xp["softplus"](lf))
    g_loss = xp["mean"](xp["softplus"](-lf))
    return d_loss, g_loss
which = sys.argv[1]
N = 100
if which == "jax":
    import jax
    import jax.numpy as jnp
    xp = {"relu": jax.nn.relu, "tanh": jnp.tanh, "mean": jnp.mean, "softplus": jax.nn.softplus}
    def dl(*a): return losses(xp, *a)[0]
    def gl(*a): return losses(xp, *a)[1]
    def step(*a):
        d, dg = jax.value_and_grad(dl, argnums=tuple(range(8, 14)))(*a)
        g, gg = jax.value_and_grad(gl, argnums=tuple(range(2, 8)))(*a)
        return d, g, dg, gg
    jf = jax.jit(step)
    args = [jax.device_put(vals[n]) for n in names]

    def run():
        return jax.block_until_ready(jf(*args))
else:
    import graphc as gc
    ins = [gc.input(n, ("batch",) + v.shape[1:] if n in ("noise", "real") else v.shape, dtype="float32")
           for n, v in vals.items()]
    xp = {"relu": gc.relu, "tanh": gc.tanh, "mean": gc.mean, "softplus": gc.softplus}
    d, g = losses(xp, *ins)
    outs = [d, g, *gc.grad(d, ins[8:14]), *gc.grad(g, ins[2:8])]
    f = gc.compile(ins, outs, backend=which)
    args = [vals[n] for n in names]

    def run():
        return f(*args)

    if os.environ.get("SRC"):
        print(f.source)
for _ in range(20):
    run()
ws, cs = [], []
for _ in range(7):
    w, c = time.perf_counter(), time.process_time()
    for _ in range(N):
        run()
    ws.append((time.perf_counter() - w) / N)
    cs.append((time.process_time() - c) / N)
print(f"{which:6s} load {os.getloadavg()[0]:.1f} wall median {statistics.median(ws) * 1e3:.3f} ms "
      f"min {min(ws) * 1e3:.3f}; cpu median {statistics.median(cs) * 1e3:.3f} ms min {min(cs) * 1e3:.3f}")
