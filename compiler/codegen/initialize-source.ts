/**
 * The generated module's `initialize(seed)`: the model's initializers, drawn as nqm draws them
 * (runtime/init.ts with runtime/rng.ts), so a user of the standalone module gets the w0 that
 * `nqm train --seed S` starts from. The module imports nothing, so the generator is printed into
 * it: the same algorithm as runtime/rng.ts (FNV-1a seed derivation, splitmix32 seeding,
 * xoshiro128**, Box–Muller with a spare), which spec/codegen/initialize.test.ts holds to the
 * runtime's numbers for every example model.
 */
import { defined } from "../../foundation/defined.ts";
import type { InitializerName } from "../check/builtins.ts";
import type { CheckedModel, TensorDecl } from "../check/typed.ts";
import type { Layout, Slot } from "./layout.ts";

/** Each initializer's value as an expression of the stream `random` (as runtime/init.ts draws it). */
const DRAW: Readonly<Record<InitializerName, (a: number, b: number) => string>> = {
  normal: (a, b) => `${a} + ${b} * random.normal()`,
  uniform: (a, b) => `${a} + ${b - a} * random.uniform()`,
  rademacher: () => "random.sign()",
  zeros: () => "0",
  ones: () => "1",
  constant: (a) => String(a),
};

/** The statements drawing one tensor into `target` (normal(0, 1) when the file gives none). */
function drawTensor(tensor: TensorDecl, slot: Slot, target: string): string {
  const init = tensor.init ?? { kind: "normal", args: [0, 1] };
  const [a = 0, b = 0] = init.args;
  const label = JSON.stringify(`init/${tensor.name}`);
  return `  {
    const random = randomStream(deriveSeed(seed, ${label}));
    for (let i = 0; i < ${slot.size}; i++) ${target}[${slot.offset} + i] = ${DRAW[init.kind](a, b)};
  }`;
}

/** The statements of `initialize(seed)` for a module whose arrays are `A`. */
export function initializeSource(model: CheckedModel, layout: Layout, A: string): string {
  const draws = (tensors: readonly TensorDecl[], slots: readonly Slot[], target: string) =>
    tensors.map((t) =>
      drawTensor(
        t,
        defined(
          slots.find((s) => s.name === t.name),
          `the slot of ${t.name}`,
        ),
        target,
      ),
    );
  return `
/** nqm's seed derivation: a 32-bit seed for the stream \`label\` of the user's \`seed\`. */
function deriveSeed(seed: number, label: string): number {
  let hash = 0x811c9dc5 ^ (Math.trunc(seed) >>> 0);
  hash = Math.imul(hash, 0x01000193) >>> 0;
  for (let i = 0; i < label.length; i++) hash = Math.imul(hash ^ label.charCodeAt(i), 0x01000193) >>> 0;
  hash = Math.imul(hash ^ (Math.floor(Math.trunc(seed) / 4294967296) >>> 0), 0x01000193) >>> 0;
  return hash;
}

/** nqm's generator (xoshiro128** seeded through splitmix32): uniforms, normals and signs. */
function randomStream(seed: number): { uniform(): number; normal(): number; sign(): number } {
  let x = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  const split = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = split();
  let s1 = split();
  let s2 = split();
  let s3 = split();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  const rotl = (v: number, k: number): number => ((v << k) | (v >>> (32 - k))) >>> 0;
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  const uniform = (): number => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
  let spare: number | null = null;
  const normal = (): number => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
  return { uniform, normal, sign: () => (next() & 1 ? 1 : -1) };
}

/**
 * The initial params w [LAYOUT.paramCount] and fixed tensors [LAYOUT.fixedCount] for \`seed\`,
 * drawn from the model's initializers as \`nqm train --seed\` draws them (the same seed, the same w0).
 */
export function initialize(seed: number = 0): { readonly w: ${A}; readonly fixed: ${A} } {
  if (!Number.isFinite(seed)) throw new RangeError(\`initialize: the seed must be a finite number, got \${seed}\`);
  const w = new ${A}(${layout.paramCount});
  const fixed = new ${A}(${layout.fixedCount});
${[...draws(model.params, layout.params, "w"), ...draws(model.fixed, layout.fixed, "fixed")].join("\n")}
  return { w, fixed };
}`;
}
