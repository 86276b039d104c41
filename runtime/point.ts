/**
 * The point file of `nqm eval` (and of the compiled backend, which meets the same contract):
 *   {"set": {...}, "params": {NAME: nested}, "fixed": {...}, "inputs": {NAME: [example, ...]},
 *    "direction": {NAME: nested}, "cotangent": [c_1, ...]}
 * `params`/`fixed` absent: drawn from the initializers with the seed; `direction` absent: zeros;
 * `cotangent` absent: all ones.
 */
import type { CheckedModel, TensorDecl } from "../compiler/check/typed.ts";
import { fail } from "../foundation/diagnostics.ts";
import { filled, fromNested, nestedShape, type Tensor } from "../compiler/ir/tensor.ts";
import { z } from "zod";
import { initializeTensor } from "./init.ts";
import { type Shape, sizeOf, formatShape } from "../foundation/shape.ts";
import { didYouMean } from "../foundation/suggest.ts";

export interface EvalPoint {
  readonly n: number;
  readonly params: Record<string, Tensor>;
  readonly fixed: Record<string, Tensor>;
  readonly inputs: Record<string, Tensor[]>;
  readonly direction: Record<string, Tensor>;
  readonly cotangent: Tensor[];
}

/** The form of a point file; tensors inside are checked against the model's shapes by `resolvePoint`. */
const tensorTable = z.record(z.string(), z.unknown(), { error: "must be an object mapping names to arrays" });
const POINT_FILE = z.strictObject({
  set: z
    .record(z.string(), z.number({ error: "must be a finite number" }), { error: "must be an object of numbers" })
    .optional(),
  params: tensorTable.optional(),
  fixed: tensorTable.optional(),
  inputs: tensorTable.optional(),
  direction: tensorTable.optional(),
  cotangent: z.array(z.unknown(), { error: "must be an array with one entry per example" }).optional(),
});
const KEYS = Object.keys(POINT_FILE.shape);

/** Parses the JSON text of a point file, checking its form (NQM4001 naming what is wrong). */
export function parsePointJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    fail("NQM4001", { reason: `not valid JSON (${(error as Error).message})` });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail("NQM4001", { reason: "the top level must be a JSON object" });
  const checked = POINT_FILE.safeParse(value);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    if (issue?.code === "unrecognized_keys") {
      const key = issue.keys[0] ?? "";
      fail("NQM4001", { reason: `unknown key \`${key}\`${didYouMean(key, KEYS)}` });
    }
    const where = issue?.path.map(String).join(".") ?? "";
    fail("NQM4001", { reason: `\`${where}\` ${issue?.message ?? "is invalid"}` });
  }
  // The original object, not zod's copy: names such as `__proto__` must stay plain keys.
  return value as Record<string, unknown>;
}

/** The `set` entry of a point file, as --set values (checked by parsePointJson). */
export function pointSet(raw: Record<string, unknown>): Record<string, number> {
  return (raw.set ?? {}) as Record<string, number>;
}

function record(raw: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  return raw[key] as Record<string, unknown> | undefined;
}

function tensors(
  raw: Record<string, unknown>,
  key: string,
  decls: readonly TensorDecl[],
  what: string,
  fallback: (t: TensorDecl) => Tensor,
): Record<string, Tensor> {
  const given = record(raw, key);
  const names = decls.map((d) => d.name);
  if (given)
    for (const name of Object.keys(given))
      if (!names.includes(name))
        fail("NQM4001", {
          reason: `\`${key}\` names \`${name}\`, which is not a ${what} of the model${didYouMean(name, names)}`,
        });
  return Object.fromEntries(
    decls.map((decl) => {
      if (!given || !Object.hasOwn(given, decl.name)) {
        if (given && key !== "direction")
          fail("NQM4001", { reason: `\`${key}\` gives some ${what}s but not \`${decl.name}\`` });
        return [decl.name, fallback(decl)];
      }
      return [decl.name, shaped(given[decl.name], decl.shape, what, decl.name)];
    }),
  );
}

function shaped(value: unknown, shape: Shape, what: string, name: string): Tensor {
  const result = fromNested(value, shape);
  if (typeof result === "string") {
    const given = nestedShape(value);
    const differs =
      given !== undefined && (given.length !== shape.length || given.some((size, i) => size !== shape[i]));
    fail("NQM4002", {
      what,
      name,
      expected: formatShape(shape),
      found: differs ? `${formatShape(given)} (${result})` : `a value where ${result}`,
    });
  }
  return result;
}

/** Validates a parsed point file against `model`, filling the defaults. */
export function resolvePoint(raw: Record<string, unknown>, model: CheckedModel, seed: number): EvalPoint {
  const inputsRaw = record(raw, "inputs");
  if (!inputsRaw) fail("NQM4001", { reason: "`inputs` is required: {NAME: [example, ...]}" });
  const inputNames = model.inputs.map((i) => i.name);
  for (const name of Object.keys(inputsRaw))
    if (!inputNames.includes(name))
      fail("NQM4001", {
        reason: `\`inputs\` names \`${name}\`, which is not an input of the model${didYouMean(name, inputNames)}`,
      });
  let n = -1;
  const inputs: Record<string, Tensor[]> = {};
  for (const decl of model.inputs) {
    const examples = inputsRaw[decl.name];
    if (!Array.isArray(examples) || examples.length === 0)
      fail("NQM4001", { reason: `inputs.${decl.name} must be a non-empty array of examples` });
    if (n >= 0 && examples.length !== n)
      fail("NQM4001", { reason: `inputs.${decl.name} has ${examples.length} examples, but another input has ${n}` });
    n = examples.length;
    Object.defineProperty(inputs, decl.name, {
      value: examples.map((e, j) => shaped(e, decl.shape, "input", `${decl.name}[${j}]`)),
      enumerable: true,
    });
  }
  const draw = (t: TensorDecl): Tensor => ({ shape: t.shape, data: initializeTensor(t, seed) });
  const params = tensors(raw, "params", model.params, "param", draw);
  const fixed = tensors(raw, "fixed", model.fixed, "fixed tensor", draw);
  const direction = tensors(raw, "direction", model.params, "param", (t) => filled(t.shape, 0));
  let cotangent: Tensor[];
  if (raw.cotangent === undefined) {
    cotangent = Array.from({ length: n }, () => filled(model.outputShape, 1));
  } else {
    if (!Array.isArray(raw.cotangent) || raw.cotangent.length !== n)
      fail("NQM4001", { reason: `\`cotangent\` must be an array of ${n} entries, one per example` });
    cotangent = raw.cotangent.map((c, j) => shaped(c, model.outputShape, "cotangent", `[${j}]`));
  }
  return { n, params, fixed, inputs, direction, cotangent };
}

/** The number of examples a parsed point file gives (its first input's), if it gives any. */
export function pointExampleCount(raw: Record<string, unknown>): number | undefined {
  const inputs = raw.inputs;
  if (typeof inputs !== "object" || inputs === null) return undefined;
  const first = Object.values(inputs)[0];
  return Array.isArray(first) ? first.length : undefined;
}

/** Bytes the resolved point of `model` holds for n examples: params, fixed, direction, inputs, cotangents. */
export function pointBytes(model: CheckedModel, n: number): number {
  const total = (tensors: readonly TensorDecl[]) => tensors.reduce((sum, t) => sum + 8 * sizeOf(t.shape), 0);
  return 2 * total(model.params) + total(model.fixed) + n * (total(model.inputs) + 8 * sizeOf(model.outputShape));
}
