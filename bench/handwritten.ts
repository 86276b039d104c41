/**
 * A hand-written, register-blocked gradient step for the two-layer ReLU network
 *   f(x) = (1/√m) Σ_i v_i relu(u_iᵀx / √d),   loss ½ Σ_j (f(x_j) − y_j)²,
 * written the way a careful engineer would for this one model: the benchmark's baseline.
 * Layout: w = [u (m×d, row-major), v (m)], X is n×d row-major.
 */
export function createHandwrittenStep(n: number, d: number, m: number) {
  const Z = new Float64Array(n * m); // pre-activations, then reused for the backward factor
  const H = new Float64Array(n * m);
  const r = new Float64Array(n);
  const su = 1 / Math.sqrt(d);
  const sm = 1 / Math.sqrt(m);

  /** Loss at w and its gradient into g; w is not changed. */
  function lossAndGrad(w: Float64Array, X: Float64Array, y: Float64Array, g: Float64Array): number {
    const vOff = m * d;
    // Z = X Uᵀ / √d, 2 examples × 4 neurons per block.
    let j = 0;
    for (; j + 1 < n; j += 2) {
      let i = 0;
      for (; i + 3 < m; i += 4) {
        let a0 = 0,
          a1 = 0,
          a2 = 0,
          a3 = 0,
          b0 = 0,
          b1 = 0,
          b2 = 0,
          b3 = 0;
        const x0 = j * d,
          x1 = x0 + d,
          u0 = i * d,
          u1 = u0 + d,
          u2 = u1 + d,
          u3 = u2 + d;
        for (let k = 0; k < d; k++) {
          const p = X[x0 + k]!,
            q = X[x1 + k]!;
          const e0 = w[u0 + k]!,
            e1 = w[u1 + k]!,
            e2 = w[u2 + k]!,
            e3 = w[u3 + k]!;
          a0 += p * e0;
          a1 += p * e1;
          a2 += p * e2;
          a3 += p * e3;
          b0 += q * e0;
          b1 += q * e1;
          b2 += q * e2;
          b3 += q * e3;
        }
        const z0 = j * m + i,
          z1 = z0 + m;
        Z[z0] = a0 * su;
        Z[z0 + 1] = a1 * su;
        Z[z0 + 2] = a2 * su;
        Z[z0 + 3] = a3 * su;
        Z[z1] = b0 * su;
        Z[z1 + 1] = b1 * su;
        Z[z1 + 2] = b2 * su;
        Z[z1 + 3] = b3 * su;
      }
      for (; i < m; i++) {
        let a = 0,
          b = 0;
        for (let k = 0; k < d; k++) {
          a += X[j * d + k]! * w[i * d + k]!;
          b += X[(j + 1) * d + k]! * w[i * d + k]!;
        }
        Z[j * m + i] = a * su;
        Z[(j + 1) * m + i] = b * su;
      }
    }
    for (; j < n; j++) {
      for (let i = 0; i < m; i++) {
        let a = 0;
        for (let k = 0; k < d; k++) a += X[j * d + k]! * w[i * d + k]!;
        Z[j * m + i] = a * su;
      }
    }
    // H = relu(Z), f = H v / √m, residuals and loss.
    let loss = 0;
    for (let jj = 0; jj < n; jj++) {
      let f = 0;
      const base = jj * m;
      for (let i = 0; i < m; i++) {
        const z = Z[base + i]!;
        const h = z > 0 ? z : 0;
        H[base + i] = h;
        f += h * w[vOff + i]!;
      }
      const res = f * sm - y[jj]!;
      r[jj] = res;
      loss += res * res;
    }
    // ∂/∂v = Hᵀ r / √m; the backward factor G = step(Z) ⊙ v r_j / (√m √d) overwrites Z.
    for (let i = 0; i < m; i++) g[vOff + i] = 0;
    for (let jj = 0; jj < n; jj++) {
      const rj = r[jj]! * sm;
      const base = jj * m;
      const rs = rj * su;
      for (let i = 0; i < m; i++) {
        g[vOff + i]! += H[base + i]! * rj;
        Z[base + i] = Z[base + i]! > 0 ? w[vOff + i]! * rs : 0;
      }
    }
    // ∂/∂U = Gᵀ X: 2 neurons × 4 input coordinates per block, summing over the examples.
    let i = 0;
    for (; i + 1 < m; i += 2) {
      let k = 0;
      for (; k + 3 < d; k += 4) {
        let a0 = 0,
          a1 = 0,
          a2 = 0,
          a3 = 0,
          b0 = 0,
          b1 = 0,
          b2 = 0,
          b3 = 0;
        for (let jj = 0; jj < n; jj++) {
          const p = Z[jj * m + i]!,
            q = Z[jj * m + i + 1]!;
          const xb = jj * d + k;
          const e0 = X[xb]!,
            e1 = X[xb + 1]!,
            e2 = X[xb + 2]!,
            e3 = X[xb + 3]!;
          a0 += p * e0;
          a1 += p * e1;
          a2 += p * e2;
          a3 += p * e3;
          b0 += q * e0;
          b1 += q * e1;
          b2 += q * e2;
          b3 += q * e3;
        }
        const g0 = i * d + k,
          g1 = g0 + d;
        g[g0] = a0;
        g[g0 + 1] = a1;
        g[g0 + 2] = a2;
        g[g0 + 3] = a3;
        g[g1] = b0;
        g[g1 + 1] = b1;
        g[g1 + 2] = b2;
        g[g1 + 3] = b3;
      }
      for (; k < d; k++) {
        let a = 0,
          b = 0;
        for (let jj = 0; jj < n; jj++) {
          a += Z[jj * m + i]! * X[jj * d + k]!;
          b += Z[jj * m + i + 1]! * X[jj * d + k]!;
        }
        g[i * d + k] = a;
        g[(i + 1) * d + k] = b;
      }
    }
    for (; i < m; i++) {
      for (let k = 0; k < d; k++) {
        let a = 0;
        for (let jj = 0; jj < n; jj++) a += Z[jj * m + i]! * X[jj * d + k]!;
        g[i * d + k] = a;
      }
    }
    return 0.5 * loss;
  }
  return { lossAndGrad };
}
