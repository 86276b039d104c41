/**
 * Random well-shaped models, generated as model-language source text so that the parser, the
 * checker and the lowering are exercised along with the derivative transforms.
 *
 * A model has three dims d, k, j (sizes 2–4), one input x: [d], 1–3 params of shapes drawn
 * from [], [k], [d], [k, d], [d, k], [k, k], [k, j], an optional fixed tensor, an optional
 * const, up to two lets and a scalar or vector output. Expressions are built per target shape
 * by a depth-bounded recursive arbitrary (one memoized arbitrary per shape and depth), so every
 * generated program type-checks by construction.
 *
 * In smooth mode every op is C^∞ on the values the point generator produces: sqrt and log only
 * see arguments ≥ 0.5 (softplus(·) + 0.5, 1 + square(·)), divisors are ≥ 0.5 in magnitude,
 * norm only sees softplus(·) (all entries > 0, so the vector is nonzero), and negative or
 * fractional exponents only apply to positive bases. Kink mode adds relu, abs, leaky_relu,
 * maximum, minimum and max (the tests then keep their arguments away from kinks). Both modes
 * index, slice, reshape, permute and reduce over an axis (the index-table ops of tables.ts), and
 * use softmax, log_softmax and logsumexp (whose max shift carries no derivative).
 */
import fc from "fast-check";
import { loadModel } from "../../compiler/frontend.ts";
import type { CheckedModel } from "../../compiler/check/typed.ts";
import { nth, present } from "./entries.ts";

export type DimName = "d" | "k" | "j";
/** A shape as dim names: [] scalar, [X] vector, [X, Y] matrix. */
export type ShapeSpec = readonly DimName[];

export interface GeneratedModel {
  readonly source: string;
  readonly checked: CheckedModel;
}

export interface GenerateOptions {
  /** Adds relu, abs and leaky_relu to the ops (default false). */
  readonly kinks?: boolean;
  /** The depth of each expression tree (default 3). */
  readonly maxDepth?: number;
}

const DIMS: readonly DimName[] = ["d", "k", "j"];
const PARAM_SHAPES: readonly ShapeSpec[] = [[], ["k"], ["d"], ["k", "d"], ["d", "k"], ["k", "k"], ["k", "j"]];
const PARAM_NAMES = ["w", "u", "b"] as const;
const FIXED_SHAPES: readonly ShapeSpec[] = [["d"], ["k"], ["k", "d"]];

const keyOf = (shape: ShapeSpec): string => shape.join(",");
const wrap = (e: string): string => `(${e})`;

/** Every shape of rank ≤ 2 over the dims. */
const ALL_SHAPES: readonly ShapeSpec[] = [
  [],
  ...DIMS.map((x) => [x]),
  ...DIMS.flatMap((x) => DIMS.map((y) => [x, y] as ShapeSpec)),
];

// Elementwise ops of one argument, as templates. Each is smooth everywhere on its argument.
const SMOOTH_UNARY: readonly ((e: string) => string)[] = [
  (e) => `tanh(${e})`,
  (e) => `sigmoid(${e})`,
  (e) => `softplus(${e})`,
  // exp only of bounded arguments: exp(exp(·)) or exp of a polynomial overflows or makes
  // functions whose derivatives no finite difference resolves.
  (e) => `exp(tanh(${e}))`,
  (e) => `exp(-softplus(${e}))`,
  (e) => `sin(${e})`,
  (e) => `cos(${e})`,
  (e) => `square(${e})`,
  (e) => `swish(${e})`,
  (e) => `sqrt(softplus(${e}) + 0.5)`,
  (e) => `log(softplus(${e}) + 0.5)`,
  (e) => `log(1 + square(${e}))`,
  (e) => `${wrap(e)} ^ 2`,
  (e) => `${wrap(e)} ^ 3`,
  (e) => `(softplus(${e}) + 0.5) ^ (-1)`,
  (e) => `(sigmoid(${e}) + 0.5) ^ 1.5`,
  (e) => `(softplus(${e}) + 1) ^ (-0.5)`,
  (e) => `(1 + square(${e})) ^ 0.5`,
  (e) => `-${wrap(e)}`,
  (e) => `0.5 * ${wrap(e)}`,
  (e) => `${wrap(e)} / sqrt(k)`,
  (e) => `${wrap(e)} * 1`,
  (e) => `${wrap(e)} ^ 1`,
  (e) => `erf(${e})`,
  (e) => `gelu(${e})`,
];

const KINK_UNARY: readonly ((e: string) => string)[] = [
  (e) => `relu(${e})`,
  (e) => `abs(${e})`,
  (e) => `leaky_relu(${e}, 0.1)`,
  (e) => `maximum(${e}, 0.2)`,
  (e) => `minimum(-0.3, ${e})`,
];

// Elementwise ops of two arguments (either may be a scalar that broadcasts); divisors are
// bounded away from zero.
const BINARY: readonly ((a: string, b: string) => string)[] = [
  (a, b) => `${wrap(a)} + ${wrap(b)}`,
  (a, b) => `${wrap(a)} - ${wrap(b)}`,
  (a, b) => `${wrap(a)} * ${wrap(b)}`,
  (a, b) => `${wrap(a)} / (1 + square(${b}))`,
  (a, b) => `${wrap(a)} / (softplus(${b}) + 0.5)`,
  (a, b) => `${wrap(a)} / (2 + cos(${b}))`,
];

interface Structure {
  readonly sizes: Readonly<Record<DimName, number>>;
  readonly params: readonly ShapeSpec[];
  readonly fixed: ShapeSpec | null;
  readonly gain: number | null;
  readonly lets: readonly number[];
  readonly vectorOutput: number | null;
}

/** The simplest expressions of each shape, built from the declared tensors alone. */
function baseExpressions(
  leaves: readonly { name: string; shape: ShapeSpec }[],
  scalars: readonly string[],
): Map<string, string[]> {
  const base = new Map<string, string[]>(ALL_SHAPES.map((s) => [keyOf(s), []]));
  const addBase = (shape: ShapeSpec, text: string) => {
    const list = present(base.get(keyOf(shape)));
    if (list.length < 3 && !list.includes(text)) list.push(text);
  };
  for (const leaf of leaves) addBase(leaf.shape, leaf.name);
  for (const s of scalars) addBase([], s);
  // Closure under transpose, matrix-vector products and outer products, so that every shape the
  // leaves can reach has a base expression. After the first round only shapes still without
  // one get one: base expressions stay small (products of products would make the generated
  // functions high-degree polynomials whose higher derivatives dwarf their values).
  for (let round = 0; round < 3; round++) {
    const snapshot = new Map([...base].map(([k, v]) => [k, [...v]]));
    const of = (shape: ShapeSpec) => present(snapshot.get(keyOf(shape)));
    const add = (shape: ShapeSpec, text: string) => {
      if (round === 0 || present(snapshot.get(keyOf(shape))).length === 0) addBase(shape, text);
    };
    for (const x of DIMS) {
      for (const y of DIMS) {
        for (const m of of([x, y])) {
          add([y, x], `transpose(${m})`);
          for (const v of of([y])) add([x], `${wrap(m)} @ ${wrap(v)}`);
          for (const v of of([x])) add([y], `${wrap(v)} @ ${wrap(m)}`);
        }
        for (const a of of([x])) for (const b of of([y])) add([x, y], `outer(${a}, ${b})`);
      }
    }
  }
  return base;
}

/** Builds the memoized expression arbitraries of one model. */
class ExpressionBuilder {
  private readonly memo = new Map<string, fc.Arbitrary<string>>();
  private readonly unary: readonly ((e: string) => string)[];

  constructor(
    private readonly base: ReadonlyMap<string, readonly string[]>,
    private readonly kinks: boolean,
  ) {
    this.unary = kinks ? [...SMOOTH_UNARY, ...KINK_UNARY, ...KINK_UNARY] : SMOOTH_UNARY;
  }

  has(shape: ShapeSpec): boolean {
    return present(this.base.get(keyOf(shape))).length > 0;
  }

  expr(shape: ShapeSpec, depth: number): fc.Arbitrary<string> {
    const key = `${keyOf(shape)}@${depth}`;
    const known = this.memo.get(key);
    if (known) return known;
    const leaf = fc.constantFrom(...present(this.base.get(keyOf(shape))));
    if (depth === 0) {
      this.memo.set(key, leaf);
      return leaf;
    }
    const sub = (s: ShapeSpec) => this.expr(s, depth - 1);
    const options: { arbitrary: fc.Arbitrary<string>; weight: number }[] = [
      { arbitrary: leaf, weight: 2 },
      { arbitrary: fc.tuple(fc.constantFrom(...this.unary), sub(shape)).map(([f, e]) => f(e)), weight: 6 },
      {
        arbitrary: fc.tuple(fc.constantFrom(...BINARY), sub(shape), sub(shape)).map(([f, a, b]) => f(a, b)),
        weight: 4,
      },
    ];
    if (shape.length > 0) {
      // A scalar on either side of an elementwise op broadcasts.
      options.push({
        arbitrary: fc.tuple(fc.constantFrom(...BINARY), sub(shape), sub([])).map(([f, a, s]) => f(a, s)),
        weight: 2,
      });
      options.push({
        arbitrary: fc.tuple(fc.constantFrom(...BINARY), sub([]), sub(shape)).map(([f, s, a]) => f(s, a)),
        weight: 1,
      });
    }
    if (shape.length === 0) {
      const vectorsAndMatrices = ALL_SHAPES.filter((s) => s.length > 0 && this.has(s));
      if (vectorsAndMatrices.length > 0) {
        const anyTensor = fc.oneof(...vectorsAndMatrices.map(sub));
        options.push({ arbitrary: anyTensor.map((e) => `sum(${e})`), weight: 2 });
        options.push({ arbitrary: anyTensor.map((e) => `mean(${e})`), weight: 1 });
        options.push({ arbitrary: anyTensor.map((e) => `norm(softplus(${e}))`), weight: 1 });
        options.push({ arbitrary: anyTensor.map((e) => `logsumexp(${e})`), weight: 1 });
        if (this.kinks) options.push({ arbitrary: anyTensor.map((e) => `max(${e})`), weight: 1 });
      }
      // An entry of a vector or a matrix (every size is at least 2).
      const indexed = ALL_SHAPES.filter((s) => s.length > 0 && this.has(s));
      if (indexed.length > 0)
        options.push({
          arbitrary: fc
            .constantFrom(...indexed)
            .chain((s) => sub(s).map((e) => `${wrap(e)}[${s.length === 1 ? "1" : "1, 0"}]`)),
          weight: 1,
        });
      const vectors = DIMS.filter((x) => this.has([x]));
      if (vectors.length > 0) {
        options.push({
          arbitrary: fc
            .constantFrom(...vectors)
            .chain((x) => fc.tuple(sub([x]), sub([x])))
            .map(([a, b]) => `dot(${a}, ${b})`),
          weight: 3,
        });
      }
    }
    if (shape.length === 1) {
      const [x] = shape as [DimName];
      // softmax and log_softmax of a vector; a row, a column, or a reduction over one axis of a matrix.
      options.push({
        arbitrary: fc
          .tuple(fc.constantFrom("softmax", "log_softmax", "logsumexp"), sub(shape))
          .map(([f, e]) => (f === "logsumexp" ? `${wrap(e)} - logsumexp(${e})` : `${f}(${e})`)),
        weight: 1,
      });
      for (const y of DIMS) {
        if (this.has([x, y]))
          options.push({
            arbitrary: fc
              .tuple(fc.constantFrom("sum", "mean", "logsumexp", "column", ...(this.kinks ? ["max"] : [])), sub([x, y]))
              .map(([f, m]) => (f === "column" ? `${wrap(m)}[:, 0]` : `${f}(${m}, 1)`)),
            weight: 1,
          });
        if (this.has([y, x])) options.push({ arbitrary: sub([y, x]).map((m) => `${wrap(m)}[1]`), weight: 1 });
      }
      const inner = DIMS.filter((y) => this.has([x, y]) && this.has([y]));
      if (inner.length > 0)
        options.push({
          arbitrary: fc
            .constantFrom(...inner)
            .chain((y) => fc.tuple(sub([x, y]), sub([y])))
            .map(([m, v]) => `${wrap(m)} @ ${wrap(v)}`),
          weight: 4,
        });
      const left = DIMS.filter((y) => this.has([y, x]) && this.has([y]));
      if (left.length > 0)
        options.push({
          arbitrary: fc
            .constantFrom(...left)
            .chain((y) => fc.tuple(sub([y]), sub([y, x])))
            .map(([v, m]) => `${wrap(v)} @ ${wrap(m)}`),
          weight: 2,
        });
    }
    if (shape.length === 2) {
      const [x, y] = shape as [DimName, DimName];
      if (this.has([x]) && this.has([y]))
        options.push({ arbitrary: fc.tuple(sub([x]), sub([y])).map(([a, b]) => `outer(${a}, ${b})`), weight: 3 });
      if (this.has([y, x])) options.push({ arbitrary: sub([y, x]).map((m) => `transpose(${m})`), weight: 2 });
      // The same entries in another order: a reshape of the transpose's shape, or an axis permutation.
      if (this.has([y, x]))
        options.push({
          arbitrary: sub([y, x]).map((m) => `reshape(${m}, [${x}, ${y}])`),
          weight: 1,
        });
      if (this.has([x, y]))
        options.push({ arbitrary: sub([x, y]).map((m) => `transpose(transpose(${m}, [1, 0]))`), weight: 1 });
      const inner = DIMS.filter((z) => this.has([x, z]) && this.has([z, y]));
      if (inner.length > 0)
        options.push({
          arbitrary: fc
            .constantFrom(...inner)
            .chain((z) => fc.tuple(sub([x, z]), sub([z, y])))
            .map(([a, b]) => `${wrap(a)} @ ${wrap(b)}`),
          weight: 2,
        });
    }
    const arbitrary = fc.oneof(...options);
    this.memo.set(key, arbitrary);
    return arbitrary;
  }
}

const formatShape = (shape: ShapeSpec): string => `[${shape.join(", ")}]`;

function modelFromStructure(structure: Structure, options: GenerateOptions): fc.Arbitrary<GeneratedModel> {
  const depth = options.maxDepth ?? 3;
  const params = structure.params.map((shape, i) => ({ name: nth(PARAM_NAMES, i), shape }));
  const leaves = [
    { name: "x", shape: ["d"] as ShapeSpec },
    ...params,
    ...(structure.fixed ? [{ name: "s", shape: structure.fixed }] : []),
  ];
  const scalars = ["0.7", "1.3", ...(structure.gain !== null ? ["gain"] : [])];
  const base = baseExpressions(leaves, scalars);
  const shapes = ALL_SHAPES.filter((s) => present(base.get(keyOf(s))).length > 0);

  // Lets: each has a shape the leaves reach, and becomes a leaf of the expressions after it.
  const letShapes = structure.lets.map((choice) => nth(shapes, choice % shapes.length));
  const vectorShapes = shapes.filter((s) => s.length === 1);
  const outputShape: ShapeSpec =
    structure.vectorOutput !== null && vectorShapes.length > 0
      ? nth(vectorShapes, structure.vectorOutput % vectorShapes.length)
      : [];
  const builders = [...letShapes, outputShape].map((_, i) => {
    const withLets = new Map([...base].map(([k, v]) => [k, [...v]]));
    letShapes.slice(0, i).forEach((shape, l) => present(withLets.get(keyOf(shape))).unshift(`h${l + 1}`));
    return new ExpressionBuilder(withLets, options.kinks ?? false);
  });
  const expressions = [...letShapes, outputShape].map((shape, i) => nth(builders, i).expr(shape, depth));

  return fc.tuple(...expressions).map((texts) => {
    const lets = texts.slice(0, -1);
    let output = present(texts.at(-1));
    // Every let and every param takes part in the output, so that every gradient block is exercised.
    const mentions = (text: string, name: string) => new RegExp(`\\b${name}\\b`).test(text);
    for (let l = lets.length - 1; l >= 0; l--) {
      const name = `h${l + 1}`;
      // Linear in the let: a nonlinear function of an arbitrary let could have derivatives
      // far larger than its value, which no finite-difference check resolves.
      if (![output, ...lets.slice(l + 1)].some((t) => mentions(t, name)))
        output = `${wrap(output)} + 0.25 * mean(${name})`;
    }
    for (const p of params)
      if (![output, ...lets].some((t) => mentions(t, p.name))) output = `${wrap(output)} + 0.25 * sum(sin(${p.name}))`;
    const lines = [
      "model generated {",
      ...DIMS.map((x) => `  dim ${x} = ${structure.sizes[x]}`),
      ...(structure.gain !== null ? [`  const gain = ${structure.gain}`] : []),
      "  input x: [d]",
      ...params.map((p) => `  param ${p.name}: ${formatShape(p.shape)} ~ normal(0, 1)`),
      ...(structure.fixed ? [`  fixed s: ${formatShape(structure.fixed)} ~ uniform(-1, 1)`] : []),
      ...lets.map((text, l) => `  let h${l + 1} = ${text}`),
      `  output ${output}`,
      "}",
    ];
    const source = `${lines.join("\n")}\n`;
    return { source, checked: loadModel(source).model };
  });
}

/** Random well-shaped models over the op table (see the file comment). */
export function modelArbitrary(options: GenerateOptions = {}): fc.Arbitrary<GeneratedModel> {
  const size = fc.integer({ min: 2, max: 4 });
  return fc
    .record({
      sizes: fc.record({ d: size, k: size, j: size }),
      params: fc.array(fc.constantFrom(...PARAM_SHAPES), { minLength: 1, maxLength: 3 }),
      fixed: fc.option(fc.constantFrom(...FIXED_SHAPES), { freq: 3 }),
      gain: fc.option(fc.constantFrom(0.5, 0.8, 1.25), { freq: 3 }),
      lets: fc.array(fc.nat(), { maxLength: 2 }),
      vectorOutput: fc.option(fc.nat(), { freq: 2 }),
    })
    .chain((structure) => modelFromStructure(structure, options));
}
