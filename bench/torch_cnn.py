#!/usr/bin/env python3
"""PyTorch side-by-side reference of `npm run bench` for the CNN of examples/cnn_mnist.nqm (issue 12).

The same function as the nqm model, NTK scalings included, on one-channel h x h images:
    z1 = relu(conv2d(x, k1) / 3)            k1: [c, 1, 3, 3], fan-in 1*3*3
    p1 = avg_pool2d(z1, 2)
    z2 = relu(conv2d(p1, k2) / sqrt(9 c))   k2: [c, c, 3, 3], fan-in c*3*3
    f  = v . mean_{i,j} z2[:, i, j] / sqrt(c)
with squared loss 1/2 sum (f - y)^2 and one full-batch gradient-descent step timed best of N after
warm-up, in float64 and float32: f by autograd, f_lin and f_quad the generic way through
torch.func / functorch jvp (a jvp of a jvp for D^T H D) and grad, everything recomputed at every step,
as bench/torch_reference.py does for the two-layer net.

Usage: python3 torch_cnn.py DATA --n N --c C --h H --threads T [--warmup 3] [--repeats 10]
DATA is a little-endian float64 file written by bench/cnn.ts: w0 (k1, k2, v flattened row-major in
that order, nqm's layout), the inputs X [n, h*h], the targets y [n] and nqm's f-step gradient at w0
(js f64). The gradient of every PyTorch program at w0 is compared with it, so the timed programs are
known to compute the same function. Run with OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to T
(bench/cnn.ts does). Prints one JSON object on stdout; {"available": false, ...} without torch.
"""

import argparse
import json
import math
import sys
import time

LR = 1e-3


def best_ms(step, warmup, repeats):
    """Best wall and best CPU milliseconds of `step` over `repeats` runs after up to `warmup` runs.

    The warm-up stops once it has taken a second, as bench/run.ts's does: a step that slow is warm
    after its first run.
    """
    warm = time.perf_counter()
    for i in range(warmup):
        if i > 0 and time.perf_counter() - warm >= 1:
            break
        step()
    wall = cpu = math.inf
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        step()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return {"best": wall * 1e3, "cpu": cpu * 1e3}


def functional():
    """jvp and grad: torch.func (PyTorch >= 2.0), else functorch (1.13, as Debian bookworm ships)."""
    try:
        from torch.func import grad, jvp

        return "torch.func", jvp, grad
    except ImportError:
        from functorch import grad, jvp

        return "functorch", jvp, grad


def measure(torch, dtype, data, sizes, warmup, repeats):
    """ms of the f, f_lin and f_quad steps in `dtype`, and each program's gradient at w0 against nqm's."""
    import torch.nn.functional as F

    source, jvp, grad = functional()
    n, c, h = sizes["n"], sizes["c"], sizes["h"]
    k1_size, k2_size = c * 9, c * c * 9
    count = k1_size + k2_size + c
    at = 0

    def take(length):
        nonlocal at
        part = data[at : at + length]
        at += length
        return part

    w_flat, x_flat, y, nqm_grad = take(count), take(n * h * h), take(n), take(count)
    if at != data.numel():
        raise SystemExit(f"torch_cnn.py: DATA has {data.numel()} entries, expected {at}")
    w_flat, X, y = w_flat.to(dtype), x_flat.to(dtype).reshape(n, 1, h, h), y.to(dtype)
    w0 = (
        w_flat[:k1_size].reshape(c, 1, 3, 3).clone(),
        w_flat[k1_size : k1_size + k2_size].reshape(c, c, 3, 3).clone(),
        w_flat[k1_size + k2_size :].clone(),
    )

    def f(w):
        k1, k2, v = w
        z1 = torch.relu(F.conv2d(X, k1) / 3)
        p1 = F.avg_pool2d(z1, 2)
        z2 = torch.relu(F.conv2d(p1, k2) / math.sqrt(9 * c))
        return z2.mean(dim=(2, 3)) @ v / math.sqrt(c)

    def half_squared(out):
        return 0.5 * ((out - y) ** 2).sum()

    params = [p.clone().requires_grad_() for p in w0]

    def step_f():
        half_squared(f(params)).backward()
        with torch.no_grad():
            for p in params:
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
        state = [tuple(torch.zeros_like(p) for p in w0)]
        gradient = grad(loss)

        def step():
            g = gradient(state[0])
            state[0] = tuple(p - LR * gp for p, gp in zip(state[0], g))

        return step

    # The timed programs must compute nqm's function: at w0 (delta = 0) all three losses are nqm's
    # f loss, so their gradients must be nqm's gradient.
    reference = nqm_grad.to(torch.float64)

    def relative(g):
        flat = torch.cat([t.flatten() for t in g]).to(torch.float64)
        return ((flat - reference).abs().max() / reference.abs().max()).item()

    half_squared(f(params)).backward()
    agreement = {"f": relative([p.grad for p in params])}
    for p in params:
        p.grad = None
    zero = tuple(torch.zeros_like(p) for p in w0)
    agreement["f_lin"] = relative(grad(loss_lin)(zero))
    agreement["f_quad"] = relative(grad(loss_quad)(zero))

    ms = {
        "f": best_ms(step_f, warmup, repeats),
        "f_lin": best_ms(gd(loss_lin), warmup, repeats),
        "f_quad": best_ms(gd(loss_quad), warmup, repeats),
    }
    return {"functional": source, "ms": ms, "agreement": agreement}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--c", type=int, required=True)
    parser.add_argument("--h", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    try:
        import torch
    except Exception as error:  # noqa: BLE001 - any import failure means "no reference on this machine"
        json.dump({"available": False, "reason": f"torch cannot be imported: {error}"}, sys.stdout)
        return 0
    torch.set_num_threads(args.threads)
    with open(args.data, "rb") as file:
        raw = bytearray(file.read())
    data = torch.frombuffer(raw, dtype=torch.float64)
    sizes = {"n": args.n, "c": args.c, "h": args.h}
    results = {
        name: measure(torch, dtype, data, sizes, args.warmup, args.repeats)
        for name, dtype in (("f64", torch.float64), ("f32", torch.float32))
    }
    json.dump(
        {
            "available": True,
            "torch_version": torch.__version__,
            "threads": args.threads,
            "torch_threads": torch.get_num_threads(),
            **results,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
