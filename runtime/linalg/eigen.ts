/**
 * Dense symmetric eigensolver: Householder reduction to tridiagonal form, then the implicit QL
 * method (tred2 and tql2 from EISPACK, as in JAMA). O(n³), backward stable, and the tridiagonal
 * stage doubles as the Ritz-value solver of the Lanczos iteration.
 */
import { NonFiniteError } from "./errors.ts";

/** Eigenpairs of a symmetric matrix: values sorted descending, vectors row-major by eigenpair. */
export interface SymmetricEigen {
  values: Float64Array;
  /** vectors[i * n + j] is component j of the unit eigenvector for values[i]. */
  vectors: Float64Array;
}

/** All eigenpairs of the symmetric n×n row-major matrix `a` (its symmetric part, to be exact). */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  if (!Number.isInteger(n) || n < 0 || a.length !== n * n) {
    throw new RangeError(`symmetricEigen: expected ${n}×${n} = ${n * n} entries, got ${a.length}`);
  }
  if (n === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) };
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const value = 0.5 * (a[i * n + j]! + a[j * n + i]!);
      if (!Number.isFinite(value))
        throw new NonFiniteError("a matrix entry", `row ${i}, column ${j} of a ${n}×${n} matrix`);
      v[i * n + j] = value;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(v, d, e, n);
  // tred2 leaves the coupling of i-1 and i in e[i]; tql2 wants it in e[i-1].
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  tql2(d, e, v, n, n);
  return sortDescending(d, v, n, n);
}

/**
 * Eigenpairs of the symmetric tridiagonal matrix with diagonal `diag` and off-diagonal `off`
 * (`off[i]` couples i and i+1). `rows` limits the eigenvector rows computed: with `rows = "last"`
 * only the last component of each eigenvector is returned (vectors has m entries), which is all
 * the Lanczos residual estimate needs, at O(m²) instead of O(m³).
 */
export function tridiagonalEigen(
  diag: ArrayLike<number>,
  off: ArrayLike<number>,
  rows: "all" | "last" = "all",
): SymmetricEigen {
  const m = diag.length;
  const d = Float64Array.from(diag);
  const e = new Float64Array(m);
  for (let i = 0; i + 1 < m; i++) e[i] = off[i]!;
  const rowCount = rows === "all" ? m : 1;
  const v = new Float64Array(rowCount * m);
  if (rows === "all") for (let i = 0; i < m; i++) v[i * m + i] = 1;
  else if (m > 0) v[m - 1] = 1;
  tql2(d, e, v, m, rowCount);
  return sortDescending(d, v, m, rowCount);
}

/** Reorders eigenpairs (rows of v, rowCount entries each) by descending value. */
function sortDescending(d: Float64Array, v: Float64Array, m: number, rowCount: number): SymmetricEigen {
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => d[y]! - d[x]!);
  const values = new Float64Array(m);
  const vectors = new Float64Array(m * rowCount);
  order.forEach((column, rank) => {
    values[rank] = d[column]!;
    vectors.set(v.subarray(column * rowCount, (column + 1) * rowCount), rank * rowCount);
  });
  return { values, vectors };
}

/**
 * Householder tridiagonalization of the symmetric v in place; v becomes the transpose of the
 * transform (stored transposed so that the inner loops run along contiguous memory).
 */
function tred2(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = v[j * n + (n - 1)]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = v[j * n + (i - 1)]!;
        v[j * n + i] = 0;
        v[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k]! /= scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        v[i * n + j] = f;
        g = e[j]! + v[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[j * n + k]! * d[k]!;
          e[k]! += v[j * n + k]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j]! /= h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) v[j * n + k]! -= f * e[k]! + g * d[k]!;
        d[j] = v[j * n + (i - 1)]!;
        v[j * n + i] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    v[i * n + (n - 1)] = v[i * n + i]!;
    v[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[(i + 1) * n + k]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[(i + 1) * n + k]! * v[j * n + k]!;
        for (let k = 0; k <= i; k++) v[j * n + k]! -= g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) v[(i + 1) * n + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[j * n + (n - 1)]!;
    v[j * n + (n - 1)] = 0;
  }
  v[(n - 1) * n + (n - 1)] = 1;
  e[0] = 0;
}

/**
 * Implicit QL on the tridiagonal (d, e) with e[i] coupling i and i+1; the rotations are applied
 * to the rows of v (n × rowCount, stored transposed), which holds eigenvectors as rows on return.
 */
function tql2(d: Float64Array, e: Float64Array, v: Float64Array, n: number, rowCount: number): void {
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m === n) m = n - 1; // e[n-1] is 0, so this only guards against NaN
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 60) throw new Error("tql2: no convergence (is the matrix finite?)");
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const row = i * rowCount;
          const next = row + rowCount;
          for (let k = 0; k < rowCount; k++) {
            h = v[next + k]!;
            v[next + k] = s * v[row + k]! + c * h;
            v[row + k] = c * v[row + k]! - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l]! += f;
    e[l] = 0;
  }
}
