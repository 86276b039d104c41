/**
 * The block structure of the second-order programs, symbolically: for the two-layer ReLU net the
 * simplified Hessian has no u–u and no v–v block (relu'' = 0; f is linear in v), so its quadratic
 * model only has u–v cross terms. Checked by substituting a zero direction for one param into
 * program.quad (and the hvp) and simplifying to the constant 0. The tanh net is the control:
 * its u–u block is not zero, so the same test does fail when the structure is absent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deriveModel, type DerivativeProgram } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { interpret } from "../../compiler/ir/interpret.ts";
import { printGraph } from "../../compiler/ir/print.ts";
import { substitute } from "../../compiler/ir/substitute.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import { simplify } from "../../compiler/simplify/simplify.ts";
import { perExample } from "../support/points.ts";
import { isConst, topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

const EXAMPLES = join(import.meta.dirname, "../../examples");

function program(file: string, set: Record<string, number> = {}): DerivativeProgram {
  return deriveModel(loadModel(readFileSync(join(EXAMPLES, file), "utf8"), { set }).model);
}

/** `roots` with the direction of every param in `zeroed` set to 0, simplified. */
function withZeroDirection(p: DerivativeProgram, roots: readonly Node[], zeroed: readonly string[]): Node[] {
  const g = p.graph;
  const substituted = substitute(g, roots, (node) =>
    node.op === "tangent" && zeroed.includes(present(node.attrs.name)) ? g.constant(0, node.shape) : undefined,
  );
  return simplify(g, substituted);
}

const isZero = (node: Node) => isConst(node, 0);
const tangentsIn = (node: Node) =>
  new Set(
    topologicalOrder([node])
      .filter((n) => n.op === "tangent")
      .map((n) => present(n.attrs.name)),
  );

test("two_layer_relu: ΔᵀHΔ has no u–u and no v–v term (Δv = 0 or Δu = 0 simplifies it to the constant 0)", () => {
  const p = program("two_layer_relu.nqm");
  assert.ok(!isZero(p.quad), "the u–v cross term is there");
  assert.deepEqual([...tangentsIn(p.quad)].sort(), ["u", "v"], "every term has both Δu and Δv");
  const [onlyU] = withZeroDirection(p, [p.quad], ["v"]);
  const [onlyV] = withZeroDirection(p, [p.quad], ["u"]);
  assert.ok(isZero(present(onlyU)), `u–u block: ${printGraph([{ name: "quad", node: present(onlyU) }]).results}`);
  assert.ok(isZero(present(onlyV)), `v–v block: ${printGraph([{ name: "quad", node: present(onlyV) }]).results}`);
  assert.deepEqual(present(onlyU).shape, p.quad.shape);
});

test("two_layer_relu: the hvp blocks H_uu Δu and H_vv Δv are the constant 0; the cross blocks are not", () => {
  const p = program("two_layer_relu.nqm");
  const [uFromU, vFromU] = withZeroDirection(p, [present(p.hvp.u), present(p.hvp.v)], ["v"]);
  const [uFromV, vFromV] = withZeroDirection(p, [present(p.hvp.u), present(p.hvp.v)], ["u"]);
  assert.ok(isZero(present(uFromU)), "hvp[u] with a Δu-only direction");
  assert.ok(isZero(present(vFromV)), "hvp[v] with a Δv-only direction");
  assert.ok(!isZero(present(vFromU)), "hvp[v] with a Δu-only direction: H_vu Δu");
  assert.ok(!isZero(present(uFromV)), "hvp[u] with a Δv-only direction: H_uv Δv");
  // Each hvp block reads only the other param's direction.
  assert.deepEqual([...tangentsIn(present(p.hvp.u))], ["v"]);
  assert.deepEqual([...tangentsIn(present(p.hvp.v))], ["u"]);
});

/** A printed result with its lets written out in place, so that every term shows what it multiplies. */
function inlined(printed: { lets: readonly string[]; results: readonly string[] }, result: number): string {
  const definitions = new Map(
    printed.lets.map((line) => {
      const match = /^let (\w+) = (.*)$/.exec(line);
      assert.ok(match?.[1] && match[2], `unexpected let line: ${line}`);
      return [match[1], match[2]] as const;
    }),
  );
  let text = (printed.results[result] ?? "").replace(/^\w+ = /, "");
  for (let changed = true; changed; ) {
    changed = false;
    text = text.replace(/\bt\d+\b/g, (name) => {
      const body = definitions.get(name);
      if (body === undefined) return name;
      changed = true;
      return `(${body})`;
    });
  }
  return text;
}

/** The top-level summands of a printed expression (split at + and binary - outside parentheses). */
function summands(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && (c === "+" || c === "-") && text[i - 1] === " " && text[i + 1] === " ") {
      terms.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  terms.push(text.slice(start).trim());
  return terms;
}

const count = (text: string, what: string) => text.split(what).length - 1;

/**
 * Interpreter bindings for a model with params u: [m, d] and v: [m] at (u, v), on the examples
 * xs, along a fixed direction (Δu, Δv) of smooth, distinct entries, with unit cotangents.
 */
function uvPoint(m: number, d: number, u: readonly number[], v: readonly number[], xs: readonly number[][]) {
  const du = u.map((_, i) => 0.3 * Math.sin(3 * i + 1));
  const dv = v.map((_, i) => 0.2 * Math.cos(2 * i));
  const bindings = {
    n: xs.length,
    params: { u: tensor([m, d], u), v: tensor([m], v) },
    fixed: {},
    inputs: { x: xs.map((x) => tensor([d], x)) },
    tangents: { u: tensor([m, d], du), v: tensor([m], dv) },
    cotangent: xs.map(() => tensor([], [1])),
  };
  return { du, dv, bindings };
}

test("two_layer_relu: the printed quad shows only u–v cross terms (each summand has Δu once and Δv once)", () => {
  const p = program("two_layer_relu.nqm");
  const text = inlined(printGraph([{ name: "quad", node: p.quad }]), 0);
  const terms = summands(text);
  assert.ok(terms.length >= 1);
  for (const term of terms) {
    assert.equal(count(term, "Δu"), 1, `Δu in ${term}`);
    assert.equal(count(term, "Δv"), 1, `Δv in ${term}`);
  }
  // The same check rejects the control's u–u block: tanh's quad has a summand with Δu twice.
  const tanh = program("two_layer_tanh.nqm");
  const tanhTerms = summands(inlined(printGraph([{ name: "quad", node: tanh.quad }]), 0));
  assert.ok(
    tanhTerms.some((term) => count(term, "Δu") !== 1 || count(term, "Δv") !== 1),
    tanhTerms.join("\n"),
  );
});

test("uv (bilinear): no u–u, no v–v block either, and f_quad = f(w0 + Δ) (to rounding)", () => {
  const d = 2;
  const m = 4;
  const p = program("uv.nqm", { d, m });
  const [onlyU] = withZeroDirection(p, [p.quad], ["v"]);
  const [onlyV] = withZeroDirection(p, [p.quad], ["u"]);
  assert.ok(onlyU && onlyV && isZero(onlyU) && isZero(onlyV));
  const { u: hvpU, v: hvpV } = p.hvp;
  assert.ok(hvpU && hvpV);
  const [uFromU] = withZeroDirection(p, [hvpU], ["v"]);
  const [vFromV] = withZeroDirection(p, [hvpV], ["u"]);
  assert.ok(uFromU && vFromV && isZero(uFromU) && isZero(vFromV));
  const u = [0.4, -1.2, 0.7, 1.1, 0.3, -0.5, -0.8, 0.2];
  const v = [1.5, -0.25, 0.5, -2];
  const xs = [
    [0.5, -1.0],
    [-0.3, 0.8],
  ];
  const { du, dv, bindings } = uvPoint(m, d, u, v, xs);
  const [fQuadValue] = interpret([p.fQuad], bindings);
  assert.ok(fQuadValue !== undefined);
  const fQuad = perExample(fQuadValue, xs.length);
  xs.forEach((x, j) => {
    // f at w0 + Δ, written out: (v + Δv)ᵀ (u + Δu) x / √m.
    let expected = 0;
    for (let i = 0; i < m; i++) {
      let row = 0;
      for (let k = 0; k < d; k++) row += ((u[i * d + k] ?? 0) + (du[i * d + k] ?? 0)) * (x[k] ?? 0);
      expected += ((v[i] ?? 0) + (dv[i] ?? 0)) * row;
    }
    expected /= Math.sqrt(m);
    const actual = (fQuad[j] as Tensor).data[0];
    assert.ok(
      // A few operations on O(1) values: agreement to rounding.
      actual !== undefined && Math.abs(actual - expected) <= 1e-13,
      `example ${j}: f_quad ${actual}, f(w0 + Δ) ${expected}`,
    );
  });
});

test("two_layer_tanh (control): the u–u block is not zero, in quad and in the hvp", () => {
  const p = program("two_layer_tanh.nqm");
  const [onlyU] = withZeroDirection(p, [p.quad], ["v"]);
  const [onlyV] = withZeroDirection(p, [p.quad], ["u"]);
  assert.ok(!isZero(present(onlyU)), "tanh'' ≠ 0: ΔuᵀH_uuΔu survives");
  assert.ok(isZero(present(onlyV)), "f is still linear in v: no v–v block");
  const [uFromU] = withZeroDirection(p, [present(p.hvp.u)], ["v"]);
  assert.ok(!isZero(present(uFromU)));
});

test("two_layer_relu: f_quad is the network with its activation pattern frozen at w0 (numerically)", () => {
  const d = 3;
  const m = 5;
  const p = program("two_layer_relu.nqm", { d, m });
  const u = [0.4, -1.2, 0.7, 1.1, 0.3, -0.5, -0.8, 0.2, 0.9, 0.6, -0.1, -1.4, 1.3, 0.5, -0.7];
  const v = [1, -1, 1, 1, -1];
  const xs = [
    [0.5, -1.0, 2.0],
    [-0.3, 0.8, 0.1],
  ];
  const { du, dv, bindings } = uvPoint(m, d, u, v, xs);
  const fQuad = perExample(nth(interpret([p.fQuad], bindings), 0), xs.length);
  xs.forEach((x, j) => {
    let expected = 0;
    for (let i = 0; i < m; i++) {
      const z0 = u.slice(i * d, i * d + d).reduce((s, w, k) => s + w * nth(x, k), 0) / Math.sqrt(d);
      const z =
        u.slice(i * d, i * d + d).reduce((s, w, k) => s + (w + nth(du, i * d + k)) * nth(x, k), 0) / Math.sqrt(d);
      expected += (nth(v, i) + nth(dv, i)) * (z0 > 0 ? z : 0);
    }
    expected /= Math.sqrt(m);
    const actual = nth((fQuad[j] as Tensor).data, 0);
    // A handful of operations on O(1) values: agreement to 1e-13 relative to the terms' size (~10).
    assert.ok(
      Math.abs(actual - expected) <= 1e-12,
      `example ${j}: f_quad ${actual}, frozen-pattern network ${expected}`,
    );
  });
});
