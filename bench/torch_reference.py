#!/usr/bin/env python3
"""PyTorch side-by-side reference for `npm run bench` (issue 11); PyTorch is never a dependency of nqm.

The two-layer ReLU net of examples/two_layer_relu.nqm,
    f(u, v; x) = (1/sqrt(m)) sum_i v_i relu(u_i . x / sqrt(d)),
with n = 256, d = 64, m = 2048, squared loss 1/2 sum (f - y)^2, one full-batch gradient-descent
step (forward, backward, update) timed best of N after warm-up, in float64 and float32:
  - f:      autograd (loss.backward()), as a PyTorch user writes a training step;
  - f_lin:  f(w0) + J(w0) D with the Jacobian product from jvp, the gradient in D by grad of jvp;
  - f_quad: f(w0) + J(w0) D + 1/2 D^T H(w0) D with D^T H D as a jvp of a jvp, gradient by grad;
  f_lin and f_quad are written the generic way (torch.func / functorch, everything recomputed at
  every step), as a JAX or PyTorch user would write them;
and the machine's matrix-product rate (torch.matmul, 1024^3) as the ceiling.

Usage: python3 torch_reference.py [--threads 1,2] [--warmup 3] [--repeats 10]
Each thread count runs in its own process with OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to it
and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (torch.set_num_threads alone does not bound
OpenBLAS's own pool). Prints one JSON object on stdout; exits 0 with {"available": false, ...}
when torch cannot be imported.
"""

import argparse
import ctypes
import json
import math
import os
import re
import subprocess
import sys
import time

N, D, M = 256, 64, 2048
GEMM = 1024
LR = 1e-3
# The step's matrix products: X u^T forward and (dZ)^T X backward, 2 n m d flops each.
STEP_FLOPS = 4 * N * M * D
GEMM_FLOPS = 2 * GEMM**3
BLAS_ENV_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def emit(value):
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def best_ms(step, warmup, repeats):
    """Best wall time of `step` in milliseconds over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        step()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def blas_info(torch):
    """What torch reports about its BLAS, and which OpenBLAS library and core kernel this process loaded."""
    config = torch.__config__.show()
    info = {}
    for key, pattern in (("torch_blas_info", r"BLAS_INFO=([^,\s]+)"), ("torch_cpu_capability", r"CPU capability usage: (\S+)")):
        found = re.search(pattern, config)
        if found:
            info[key] = found.group(1)
    try:
        with open("/proc/self/maps") as maps:
            libraries = sorted({line.split()[-1] for line in maps if "openblas" in line and ".so" in line})
    except OSError:
        libraries = []
    core = next((path for path in libraries if os.path.basename(path).startswith("libopenblas")), None)
    if core is None:
        info["openblas"] = "not loaded (torch uses another BLAS)"
        return info
    info["openblas_library"] = os.path.realpath(core)
    library = ctypes.CDLL(core)
    for name, restype in (("openblas_get_config", ctypes.c_char_p), ("openblas_get_corename", ctypes.c_char_p)):
        function = getattr(library, name, None)
        if function is not None:
            function.restype = restype
            info[name.replace("openblas_get_", "openblas_")] = function().decode()
    threads = getattr(library, "openblas_get_num_threads", None)
    if threads is not None:
        threads.restype = ctypes.c_int
        info["openblas_threads"] = threads()
    try:
        from threadpoolctl import threadpool_info

        info["threadpoolctl"] = threadpool_info()
    except ImportError:
        pass
    return info


def functional(torch):
    """jvp and grad: torch.func (PyTorch >= 2.0), else functorch (1.13, as Debian bookworm ships)."""
    try:
        from torch.func import grad, jvp

        return "torch.func", jvp, grad
    except ImportError:
        from functorch import grad, jvp

        return "functorch", jvp, grad


def measure(torch, dtype, warmup, repeats):
    """ms (and GFLOP/s) of the f, f_lin and f_quad steps and of a 1024^3 matmul in `dtype`."""
    source, jvp, grad = functional(torch)
    generator = torch.Generator().manual_seed(7)
    X = torch.randn(N, D, generator=generator, dtype=dtype)
    y = torch.randint(0, 2, (N,), generator=generator).to(dtype) * 2 - 1
    u0 = torch.randn(M, D, generator=generator, dtype=dtype)
    v0 = torch.randint(0, 2, (M,), generator=generator).to(dtype) * 2 - 1
    w0 = (u0, v0)
    scale_d, scale_m = 1 / math.sqrt(D), 1 / math.sqrt(M)

    def f(w):
        u, v = w
        return torch.relu(X @ u.T * scale_d) @ v * scale_m

    def half_squared(out):
        return 0.5 * ((out - y) ** 2).sum()

    # f: the ordinary training step.
    u = u0.clone().requires_grad_()
    v = v0.clone().requires_grad_()

    def step_f():
        half_squared(f((u, v))).backward()
        with torch.no_grad():
            for p in (u, v):
                p -= LR * p.grad
                p.grad = None

    def loss_lin(delta):
        f0, j = jvp(f, (w0,), (delta,))
        return half_squared(f0 + j)

    def loss_quad(delta):
        f0 = f(w0)
        # jvp of (w -> J(w) delta) in direction delta: primal J(w0) delta, tangent delta^T H(w0) delta.
        j, q = jvp(lambda w: jvp(f, (w,), (delta,))[1], (w0,), (delta,))
        return half_squared(f0 + j + 0.5 * q)

    def gd(loss):
        state = [(torch.zeros_like(u0), torch.zeros_like(v0))]
        gradient = grad(loss)

        def step():
            g = gradient(state[0])
            state[0] = tuple(p - LR * gp for p, gp in zip(state[0], g))

        return step

    # The timed programs must compute what they claim. At w0 (delta = 0) the three losses agree, so
    # must their gradients.
    zero = (torch.zeros_like(u0), torch.zeros_like(v0))
    u.grad = None
    half_squared(f((u, v))).backward()
    reference = torch.cat([u.grad.flatten(), v.grad.flatten()])
    u.grad = v.grad = None
    agreement = {}
    for name, loss in (("f_lin", loss_lin), ("f_quad", loss_quad)):
        g = torch.cat([t.flatten() for t in grad(loss)(zero)])
        agreement[name] = ((g - reference).abs().max() / reference.abs().max()).item()

    # With its activation pattern frozen at w0 the net is bilinear in (u, v), so f_quad(delta) is
    # that net at w0 + delta and f_lin(delta) its first-order part: values the timed programs must give.
    pattern = (X @ u0.T * scale_d > 0).to(dtype)

    def frozen(u, v):
        return (pattern * (X @ u.T * scale_d)) @ v * scale_m

    du = 0.1 * torch.randn(M, D, generator=generator, dtype=dtype)
    dv = 0.1 * torch.randn(M, generator=generator, dtype=dtype)
    f0 = f(w0)
    j, q = jvp(lambda w: jvp(f, (w,), ((du, dv),))[1], (w0,), ((du, dv),))
    expected_lin = f0 + frozen(u0, dv) + frozen(du, v0)
    expected_quad = frozen(u0 + du, v0 + dv)

    def relative(a, b):
        return ((a - b).abs().max() / b.abs().max()).item()

    agreement["f_lin_value"] = relative(f0 + j, expected_lin)
    agreement["f_quad_value"] = relative(f0 + j + 0.5 * q, expected_quad)

    a = torch.randn(GEMM, GEMM, generator=generator, dtype=dtype)
    b = torch.randn(GEMM, GEMM, generator=generator, dtype=dtype)
    ms = {
        "f": best_ms(step_f, warmup, repeats),
        "f_lin": best_ms(gd(loss_lin), warmup, repeats),
        "f_quad": best_ms(gd(loss_quad), warmup, repeats),
        "gemm": best_ms(lambda: torch.matmul(a, b), warmup, repeats),
    }
    return {
        "functional": source,
        "ms": ms,
        "gflops": {
            "f": STEP_FLOPS / ms["f"] / 1e6,
            "gemm": GEMM_FLOPS / ms["gemm"] / 1e6,
        },
        "agreement": agreement,
    }


def run_one(threads, warmup, repeats):
    import torch

    torch.set_num_threads(threads)
    torch.matmul(torch.ones(64, 64), torch.ones(64, 64))  # loads the BLAS before blas_info looks for it
    measured = {name: measure(torch, dtype, warmup, repeats) for name, dtype in (("f64", torch.float64), ("f32", torch.float32))}
    return {
        "available": True,
        "torch_version": torch.__version__,
        "python": sys.version.split()[0],
        "blas": blas_info(torch),
        "sizes": {"n": N, "d": D, "m": M, "gemm": GEMM},
        "flops": {"f_step": STEP_FLOPS, "gemm": GEMM_FLOPS},
        "warmup": warmup,
        "repeats": repeats,
        "results": {str(threads): {"torch_threads": torch.get_num_threads(), **measured}},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",") if t]
    try:
        import torch  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any import failure means "no reference on this machine"
        emit({"available": False, "reason": f"torch cannot be imported: {error}"})
        return 0

    pinned = os.environ.get("OPENBLAS_NUM_THREADS")
    if len(counts) == 1 and pinned == str(counts[0]) and not any(k in os.environ for k in BLAS_ENV_UNSET):
        emit(run_one(counts[0], args.warmup, args.repeats))
        return 0

    # One process per thread count: OpenBLAS reads its environment once, when it loads.
    merged = None
    for threads in counts:
        env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV_UNSET}
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        command = [sys.executable, os.path.abspath(__file__), "--threads", str(threads)]
        command += ["--warmup", str(args.warmup), "--repeats", str(args.repeats)]
        one = json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
        if merged is None:
            merged = one
        else:
            merged["results"].update(one["results"])
            merged.setdefault("blas_by_threads", {})[str(threads)] = one["blas"]
    emit(merged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
