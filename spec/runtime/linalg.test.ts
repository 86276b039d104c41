import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { NqmError } from "../../foundation/diagnostics.ts";
import { lanczosTopK, NonFiniteError, symmetricEigen, tridiagonalEigen } from "../../runtime/linalg/index.ts";
import { topEigenpairs } from "../../runtime/session.ts";
import { Rng } from "../../runtime/rng.ts";
import { propertyRuns } from "../support/runs.ts";
import { nth } from "../support/entries.ts";

// ---------------------------------------------------------------- helpers (independent of the code under test)

/** A random orthogonal matrix (columns orthonormal), by modified Gram–Schmidt run twice on a Gaussian matrix. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) q[i] = rng.normal();
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += nth(q, i * n + j) * nth(q, i * n + p);
        for (let i = 0; i < n; i++) q[i * n + j] = nth(q, i * n + j) - d * nth(q, i * n + p);
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += nth(q, i * n + j) ** 2;
      norm = Math.sqrt(norm);
      for (let i = 0; i < n; i++) q[i * n + j] = nth(q, i * n + j) / norm;
    }
  }
  return q;
}

/** Q diag(spectrum) Qᵀ; column j of q is the eigenvector of spectrum[j]. */
function withSpectrum(q: Float64Array, spectrum: number[]): Float64Array {
  const n = spectrum.length;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += nth(q, i * n + p) * nth(spectrum, p) * nth(q, j * n + p);
      a[i * n + j] = s;
      a[j * n + i] = s;
    }
  }
  return a;
}

function denseMatVec(a: Float64Array, n: number): (v: Float64Array, out: Float64Array) => void {
  return (v, out) => {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += nth(a, i * n + j) * nth(v, j);
      out[i] = s;
    }
  };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += nth(a, i) * nth(b, i);
  return s;
}

/** ‖A v − λ v‖ for a dense A. */
function residual(a: Float64Array, n: number, v: ArrayLike<number>, lambda: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < n; j++) row += nth(a, i * n + j) * nth(v, j);
    s += (row - lambda * nth(v, i)) ** 2;
  }
  return Math.sqrt(s);
}

function descending(values: number[]): number[] {
  return [...values].sort((x, y) => y - x);
}

function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected} (tolerance ${tolerance})`);
}

// ---------------------------------------------------------------- symmetricEigen

test("symmetricEigen: 2×2 and diagonal examples worked by hand", () => {
  const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assertClose(nth(values, 0), 3, 1e-14, "λ1");
  assertClose(nth(values, 1), 1, 1e-14, "λ2");
  assertClose(Math.abs(nth(vectors, 0)), Math.SQRT1_2, 1e-14, "v1");
  assertClose(nth(vectors, 0) * nth(vectors, 1), 0.5, 1e-14, "v1 has equal components");
  assertClose(nth(vectors, 2) * nth(vectors, 3), -0.5, 1e-14, "v2 has opposite components");
  const diagonal = symmetricEigen(Float64Array.from([1, 0, 0, 0, -5, 0, 0, 0, 7]), 3);
  assert.deepEqual([...diagonal.values], [7, 1, -5]);
  assert.deepEqual([...symmetricEigen(Float64Array.from([4]), 1).values], [4]);
  assert.deepEqual([...symmetricEigen(new Float64Array(16), 4).values], [0, 0, 0, 0]);
});

test("symmetricEigen: recovers the spectrum of Q diag(λ) Qᵀ, with orthonormal eigenvectors (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 24 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.boolean(),
      (n, seed, repeated) => {
        const rng = new Rng(seed);
        // Repeated eigenvalues (a degenerate eigenspace) are the hard case for eigenvector accuracy.
        const spectrum = Array.from({ length: n }, (_, i) =>
          repeated && i % 3 === 0 ? 2 : 10 * (rng.uniform() - 0.3),
        );
        const a = withSpectrum(randomOrthogonal(n, rng), spectrum);
        const { values, vectors } = symmetricEigen(a, n);
        const scale = spectrum.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
        descending(spectrum).forEach((lambda, i) => assertClose(nth(values, i), lambda, 1e-11 * scale, `λ${i}`));
        for (let i = 0; i < n; i++) {
          const v = vectors.subarray(i * n, (i + 1) * n);
          assert.ok(residual(a, n, v, nth(values, i)) < 1e-10 * scale, `residual of pair ${i}`);
          for (let j = 0; j <= i; j++)
            assertClose(dot(v, vectors.subarray(j * n, (j + 1) * n)), i === j ? 1 : 0, 1e-11, `⟨v${i}, v${j}⟩`);
        }
      },
    ),
    { numRuns: propertyRuns(60) },
  );
});

test("symmetricEigen: trace and Frobenius norm are the sum of λ and of λ² (random symmetric matrices)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (n, seed) => {
      const rng = new Rng(seed);
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
      const { values } = symmetricEigen(a, n);
      let trace = 0;
      for (let i = 0; i < n; i++) trace += nth(a, i * n + i);
      const frobenius = dot(a, a);
      assertClose(
        values.reduce((s, v) => s + v, 0),
        trace,
        1e-10 * n,
        "Σλ = trace",
      );
      assertClose(
        values.reduce((s, v) => s + v * v, 0),
        frobenius,
        1e-10 * frobenius,
        "Σλ² = ‖A‖²",
      );
      for (let i = 1; i < n; i++) assert.ok(nth(values, i - 1) >= nth(values, i), "sorted descending");
    }),
    { numRuns: propertyRuns(40) },
  );
});

test("symmetricEigen: a 150×150 matrix with a known spectrum in well under a second", () => {
  const n = 150;
  const rng = new Rng(11);
  const spectrum = Array.from({ length: n }, (_, i) => 100 / (i + 1));
  const a = withSpectrum(randomOrthogonal(n, rng), spectrum);
  const started = performance.now();
  const { values } = symmetricEigen(a, n);
  assert.ok(performance.now() - started < 1000);
  spectrum.forEach((lambda, i) => assertClose(nth(values, i), lambda, 1e-11 * 100, `λ${i}`));
});

test("symmetricEigen: non-finite entries are a NonFiniteError naming the entry; a wrong size is a RangeError", () => {
  assert.throws(
    () => symmetricEigen(Float64Array.from([1, NaN, NaN, 1]), 2),
    (e: unknown) => e instanceof NonFiniteError && e.where === "row 0, column 1 of a 2×2 matrix",
  );
  assert.throws(() => symmetricEigen(new Float64Array(5), 2), RangeError);
});

test("tridiagonalEigen agrees with the dense solver; its last-row mode gives the last eigenvector components", () => {
  const rng = new Rng(3);
  const m = 30;
  const diag = Array.from({ length: m }, () => rng.normal());
  const off = Array.from({ length: m - 1 }, (_, i) => (i === 10 ? 0 : rng.normal())); // a split into blocks
  const dense = new Float64Array(m * m);
  for (let i = 0; i < m; i++) dense[i * m + i] = nth(diag, i);
  for (let i = 0; i + 1 < m; i++) dense[i * m + i + 1] = dense[(i + 1) * m + i] = nth(off, i);
  const full = tridiagonalEigen(diag, off);
  const last = tridiagonalEigen(diag, off, "last");
  const reference = symmetricEigen(dense, m);
  for (let i = 0; i < m; i++) {
    assertClose(nth(full.values, i), nth(reference.values, i), 1e-12, `λ${i}`);
    assertClose(nth(last.values, i), nth(reference.values, i), 1e-12, `λ${i} (last-row mode)`);
    assert.ok(residual(dense, m, full.vectors.subarray(i * m, (i + 1) * m), nth(full.values, i)) < 1e-12);
    assertClose(
      Math.abs(nth(last.vectors, i)),
      Math.abs(nth(full.vectors, i * m + m - 1)),
      1e-12,
      `last component ${i}`,
    );
  }
});

// ---------------------------------------------------------------- lanczosTopK

test("lanczosTopK: top-k of a PSD operator with known spectrum, and its eigenvectors", () => {
  const n = 200;
  const rng = new Rng(21);
  const q = randomOrthogonal(n, rng);
  const spectrum = Array.from({ length: n }, (_, i) => 50 * Math.exp(-i / 8));
  const a = withSpectrum(q, spectrum);
  const result = lanczosTopK(denseMatVec(a, n), n, 5, { seed: 1 });
  assert.ok(result.converged);
  assert.equal(result.values.length, 5);
  for (let i = 0; i < 5; i++) {
    assertClose(nth(result.values, i), nth(spectrum, i), 1e-8 * nth(spectrum, 0), `λ${i}`);
    const column = Array.from({ length: n }, (_, r) => nth(q, r * n + i));
    assertClose(Math.abs(dot(nth(result.vectors, i), column)), 1, 1e-8, `eigenvector ${i}`);
    assert.ok(residual(a, n, nth(result.vectors, i), nth(result.values, i)) <= 1e-7 * nth(spectrum, 0));
    assert.ok(nth(result.residuals, i) <= 1e-8 * nth(spectrum, 0) * 1.0001);
  }
  assert.ok(result.matVecs < n / 2, `used ${result.matVecs} products`);
  assert.equal(result.iterations, result.matVecs);
});

test("lanczosTopK agrees with the dense solver on random Gram matrices (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (n, width, k, seed) => {
        // K = J Jᵀ, like a tangent kernel with `width` parameters: PSD, rank ≤ width.
        const rng = new Rng(seed);
        const jac = Float64Array.from({ length: n * width }, () => rng.normal());
        const kernel = new Float64Array(n * n);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++)
            kernel[i * n + j] = dot(jac.subarray(i * width, (i + 1) * width), jac.subarray(j * width, (j + 1) * width));
        }
        const dense = symmetricEigen(kernel, n);
        const result = lanczosTopK(denseMatVec(kernel, n), n, k, { seed });
        const expectedCount = Math.min(k, n);
        assert.equal(result.values.length, expectedCount);
        for (let i = 0; i < expectedCount; i++) {
          assert.ok(Number.isFinite(nth(result.values, i)));
          assertClose(
            nth(result.values, i),
            nth(dense.values, i),
            1e-7 * nth(dense.values, 0),
            `λ${i} (n=${n}, width=${width}, k=${k})`,
          );
          assertClose(dot(nth(result.vectors, i), nth(result.vectors, i)), 1, 1e-10, `‖y${i}‖`);
        }
      },
    ),
    { numRuns: propertyRuns(80) },
  );
});

test("lanczosTopK: a rank-2 kernel (Theorem 3's structure) gives its two eigenvalues, then zeros, never NaN", () => {
  // 1-D data, two-layer ReLU net: K has rank ≤ 2 with eigenvectors ∝ x·1{x ≥ 0} and x·1{x < 0}.
  const n = 128;
  const rng = new Rng(8);
  const x = Float64Array.from({ length: n }, (_, i) => (i < n / 2 ? -2 : 2) + rng.normal());
  const p1 = x.map((v) => (v >= 0 ? v : 0));
  const p2 = x.map((v) => (v < 0 ? v : 0));
  const c1 = 3;
  const c2 = 1;
  // K = c1 p1 p1ᵀ + c2 p2 p2ᵀ, and p1 ⟂ p2, so the eigenvalues are c·‖p‖² exactly.
  const expected = descending([c1 * dot(p1, p1), c2 * dot(p2, p2)]);
  const matVec = (v: Float64Array, out: Float64Array): void => {
    const a = c1 * dot(p1, v);
    const b = c2 * dot(p2, v);
    for (let i = 0; i < n; i++) out[i] = a * nth(p1, i) + b * nth(p2, i);
  };
  for (const k of [1, 2, 3, 6]) {
    const result = lanczosTopK(matVec, n, k, { seed: k });
    assert.ok(result.converged, `k=${k} converged`);
    assert.equal(result.values.length, k);
    result.values.forEach((value, i) => {
      assert.ok(Number.isFinite(value), `k=${k}: λ${i} is ${value}`);
      assertClose(value, i < 2 ? nth(expected, i) : 0, 1e-9 * nth(expected, 0), `k=${k}: λ${i}`);
    });
    for (const v of result.vectors) assert.ok(v.every(Number.isFinite));
    assert.ok(result.matVecs <= k + 3, `k=${k}: ${result.matVecs} products for a rank-2 operator`);
  }
});

test("lanczosTopK: n smaller than maxIter, n = 1, and the zero operator", () => {
  const a = Float64Array.from([4, 1, 0, 1, 3, 1, 0, 1, 2]);
  const result = lanczosTopK(denseMatVec(a, 3), 3, 3, { maxIter: 1000 });
  const dense = symmetricEigen(a, 3);
  result.values.forEach((value, i) => assertClose(value, nth(dense.values, i), 1e-12, `λ${i}`));
  assert.ok(result.matVecs <= 3);
  const one = lanczosTopK(
    (v, out) => {
      out[0] = 5 * nth(v, 0);
    },
    1,
    4,
  );
  assert.deepEqual(one.values, [5]);
  const zero = lanczosTopK(() => undefined, 10, 2);
  assert.deepEqual(zero.values, [0, 0]);
  assert.ok(zero.vectors.every((v) => v.every(Number.isFinite)));
});

test("lanczosTopK: a warm start from the previous top eigenvector needs fewer products on a perturbed kernel", () => {
  const n = 300;
  const rng = new Rng(99);
  const spectrum = Array.from({ length: n }, (_, i) => 10 / (1 + i) ** 0.5); // slow decay: a hard case for a cold start
  const a = withSpectrum(randomOrthogonal(n, rng), spectrum);
  const perturbed = Float64Array.from(a);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++)
      perturbed[i * n + j] = perturbed[j * n + i] = nth(a, i * n + j) + (1e-4 * rng.normal()) / Math.sqrt(n);
  const expected = nth(symmetricEigen(perturbed, n).values, 0);
  const previous = lanczosTopK(denseMatVec(a, n), n, 1, { seed: 5 });
  const cold = lanczosTopK(denseMatVec(perturbed, n), n, 1, { seed: 6 });
  const warm = lanczosTopK(denseMatVec(perturbed, n), n, 1, { start: nth(previous.vectors, 0), seed: 6 });
  assertClose(nth(cold.values, 0), expected, 1e-8 * expected, "cold λ_max");
  assertClose(nth(warm.values, 0), expected, 1e-8 * expected, "warm λ_max");
  assert.ok(warm.matVecs < cold.matVecs / 2, `warm ${warm.matVecs} vs cold ${cold.matVecs} products`);
});

test("lanczosTopK: a start that is exactly an eigenvector still finds the next eigenvalues", () => {
  const n = 50;
  const rng = new Rng(4);
  const q = randomOrthogonal(n, rng);
  const spectrum = Array.from({ length: n }, (_, i) => n - i);
  const a = withSpectrum(q, spectrum);
  const u1 = Float64Array.from({ length: n }, (_, r) => nth(q, r * n));
  for (const start of [u1, [u1]]) {
    const result = lanczosTopK(denseMatVec(a, n), n, 3, { start, tol: 1e-10 });
    result.values.forEach((value, i) => assertClose(value, nth(spectrum, i), 1e-8 * n, `λ${i}`));
  }
});

test("lanczosTopK: same seed gives identical results; non-finite products are a NonFiniteError, NQM4006 through the session", () => {
  const n = 40;
  const a = withSpectrum(
    randomOrthogonal(n, new Rng(1)),
    Array.from({ length: n }, (_, i) => 1 / (i + 1)),
  );
  const first = lanczosTopK(denseMatVec(a, n), n, 2, { seed: 3 });
  const second = lanczosTopK(denseMatVec(a, n), n, 2, { seed: 3 });
  assert.deepEqual(first.values, second.values);
  assert.deepEqual(first.vectors, second.vectors);
  assert.throws(
    () => lanczosTopK((_, out) => out.fill(Number.NaN), n, 1),
    (e: unknown) => e instanceof NonFiniteError && /Lanczos step 1/.test(e.where),
  );
  assert.throws(
    () => topEigenpairs((_, out) => out.fill(Number.NaN), n, 1, {}),
    (e: unknown) =>
      e instanceof NqmError &&
      nth(e.diagnostics, 0).code === "NQM4006" &&
      /the kernel-vector product is not a finite number at entry 0 in Lanczos step 1/.test(
        nth(e.diagnostics, 0).message,
      ),
  );
  assert.throws(() => lanczosTopK(denseMatVec(a, n), n, 0), RangeError);
});
