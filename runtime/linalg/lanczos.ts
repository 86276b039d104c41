/**
 * Top eigenpairs of a symmetric positive semi-definite operator given only as a matrix-vector
 * product (the neural tangent kernel, n up to a few thousand), by Lanczos with full
 * reorthogonalization. Full reorthogonalization costs O(n·m) per step for an m-step basis but
 * removes ghost eigenvalues, and at these sizes the matrix-vector product dominates anyway.
 *
 * An invariant Krylov subspace (the iteration "breaks down", e.g. after 3 steps on a rank-2
 * kernel) is handled by restarting from a random vector orthogonal to the basis, so the
 * tridiagonal matrix becomes block diagonal and every Ritz value stays exact and finite.
 */
import { defined } from "../../foundation/defined.ts";
import { axpy, dot } from "./vector.ts";
import { NonFiniteError } from "./errors.ts";
import { Rng } from "../rng.ts";
import { tridiagonalEigen } from "./eigen.ts";

/** Writes A·v into out (out is zero-filled before each call). */
export type MatVec = (v: Float64Array, out: Float64Array) => void;

export interface LanczosOptions {
  /**
   * Warm start: the previous top eigenvector, or the previous top-k eigenvectors (their sum is
   * used). Tracking λ_max during training from the last step's eigenvector takes few products.
   */
  start?: Float64Array | readonly Float64Array[];
  /** At most this many products (default min(n, max(300, 20k))). */
  maxIter?: number;
  /** Converged when each top-k Ritz residual ‖A y − θ y‖ ≤ tol·λ_max (default 1e-8). */
  tol?: number;
  /** Seed of the random start and restart vectors (default 0). */
  seed?: number;
}

export interface LanczosResult {
  /** The top k eigenvalues, descending (k is capped at n). */
  values: number[];
  /** Unit eigenvectors, one per value. */
  vectors: Float64Array[];
  /** Lanczos steps taken (the size of the Krylov basis). */
  iterations: number;
  /** Calls of matVec. */
  matVecs: number;
  /** Whether every returned pair met the tolerance (else maxIter stopped the iteration). */
  converged: boolean;
  /** The residual norm ‖A y − θ y‖ of each returned pair. */
  residuals: number[];
}

/** The k largest eigenpairs of a symmetric PSD operator of size n, by Lanczos. */
export function lanczosTopK(matVec: MatVec, n: number, k: number, options: LanczosOptions = {}): LanczosResult {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`lanczosTopK: n must be a positive integer, not ${n}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`lanczosTopK: k must be a positive integer, not ${k}`);
  const wanted = Math.min(k, n);
  const maxIter = Math.min(n, Math.max(wanted, options.maxIter ?? Math.max(300, 20 * wanted)));
  const tol = options.tol ?? 1e-8;
  let rng: Rng | undefined;
  const random = (): Float64Array => {
    rng ??= new Rng(options.seed ?? 0);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal();
    return v;
  };

  const basis: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = []; // beta[j] couples basis[j] and basis[j + 1]
  let q = startVector(options.start, n, wanted, random);
  const w = new Float64Array(n);
  let matVecs = 0;
  let scale = 0; // running estimate of ‖T‖, for the breakdown test
  let converged = false;
  let lastBeta = 0;

  for (let j = 0; j < maxIter; j++) {
    basis.push(q);
    w.fill(0);
    matVec(q, w);
    matVecs++;
    const nonFinite = w.findIndex((value) => !Number.isFinite(value));
    if (nonFinite >= 0)
      throw new NonFiniteError("the kernel-vector product", `entry ${nonFinite} in Lanczos step ${j + 1}`);
    const diagonal = dot(q, w);
    alpha.push(diagonal);
    // Two passes of classical Gram–Schmidt against the whole basis ("twice is enough").
    for (let pass = 0; pass < 2; pass++) {
      for (const v of basis) axpy(-dot(v, w), v, w);
    }
    lastBeta = Math.sqrt(dot(w, w));
    // beta holds one coupling per earlier step: its last is the one into this step.
    scale = Math.max(scale, Math.abs(diagonal) + lastBeta + (beta.at(-1) ?? 0));
    const brokeDown = lastBeta <= 1e-12 * scale || scale === 0;

    if (basis.length >= wanted) {
      const ritz = tridiagonalEigen(alpha, beta, "last");
      const top = defined(ritz.values[0], "the top Ritz value");
      const ok = ritz.vectors.subarray(0, wanted).every((last) => Math.abs(lastBeta * last) <= tol * Math.max(top, 0));
      if (ok || basis.length === n) {
        converged = true;
        break;
      }
    }
    if (brokeDown) {
      // The Krylov space is invariant: continue from a fresh direction orthogonal to all of it.
      const fresh = random();
      for (let pass = 0; pass < 2; pass++) for (const v of basis) axpy(-dot(v, fresh), v, fresh);
      const norm = Math.sqrt(dot(fresh, fresh));
      if (!(norm > 1e-10 * Math.sqrt(n))) {
        converged = true;
        break;
      }
      beta.push(0);
      q = scaled(fresh, 1 / norm);
      lastBeta = 0;
    } else {
      beta.push(lastBeta);
      q = scaled(w, 1 / lastBeta);
    }
  }
  // If the loop ran out, the last pushed beta couples to a vector never used: drop it.
  const m = basis.length;
  const offDiagonal = beta.slice(0, m - 1);
  const ritz = tridiagonalEigen(alpha, offDiagonal, "all");
  const values: number[] = [];
  const vectors: Float64Array[] = [];
  const residuals: number[] = [];
  for (let i = 0; i < wanted; i++) {
    const y = new Float64Array(n);
    const coefficients = ritz.vectors.subarray(i * m, (i + 1) * m);
    basis.forEach((v, j) => axpy(defined(coefficients[j], "a Ritz vector entry"), v, y));
    const norm = Math.sqrt(dot(y, y));
    vectors.push(norm > 0 ? scaled(y, 1 / norm) : y);
    values.push(defined(ritz.values[i], "a Ritz value"));
    residuals.push(Math.abs(lastBeta * defined(coefficients.at(-1), "a Ritz vector's last entry")));
  }
  return { values, vectors, iterations: m, matVecs, converged, residuals };
}

/** The normalized start: the warm-start vector(s), else a random vector. */
function startVector(
  start: LanczosOptions["start"],
  n: number,
  wanted: number,
  random: () => Float64Array,
): Float64Array {
  const given = start === undefined ? [] : start instanceof Float64Array ? [start] : [...start];
  const v = new Float64Array(n);
  for (const s of given) {
    if (s.length !== n) throw new RangeError(`lanczosTopK: the start vector has ${s.length} entries, not ${n}`);
    const norm = Math.sqrt(dot(s, s));
    if (norm > 0 && Number.isFinite(norm)) axpy(1 / norm, s, v);
  }
  let norm = Math.sqrt(dot(v, v));
  if (!(norm > 0) || !Number.isFinite(norm)) {
    const r = random();
    return scaled(r, 1 / Math.sqrt(dot(r, r)));
  }
  if (given.length < wanted) {
    // Fewer start vectors than wanted pairs: a small random part makes sure the Krylov space
    // reaches the other top eigenvectors even if the start is orthogonal to one of them.
    const r = random();
    axpy((1e-3 * norm) / Math.sqrt(dot(r, r)), r, v);
    norm = Math.sqrt(dot(v, v));
  }
  return scaled(v, 1 / norm);
}

function scaled(x: Float64Array, factor: number): Float64Array {
  return x.map((value) => value * factor);
}
