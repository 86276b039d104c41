/** The front end as one call: parse and check a model file. */
import { parseSource } from "../grammar/build-ast.ts";
import { type CheckOptions, checkFile } from "./check/check.ts";
import type { CheckedModel } from "./check/typed.ts";
import { fail, NqmError, hasErrors, type Diagnostic } from "../foundation/diagnostics.ts";

/** parse + check's output (exported as the front end's result type, for callers that keep it). */
export interface FrontendResult {
  /** Present when the file parsed and checked without error. */
  readonly models?: readonly CheckedModel[];
  /** Errors and warnings, in source order. */
  readonly diagnostics: readonly Diagnostic[];
  /** Per model name, the dims bound from `inputShape` (see CheckOptions). */
  readonly boundDims?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** Parses and checks `source`; never throws for a user error. */
export function checkSource(source: string, options: CheckOptions = {}): FrontendResult {
  const parsed = parseSource(source, options.file);
  if (!parsed.ast) return { diagnostics: parsed.diagnostics };
  const checked = checkFile(parsed.ast, options);
  const diagnostics = [...parsed.diagnostics, ...checked.diagnostics];
  return checked.models ? { models: checked.models, diagnostics, boundDims: checked.boundDims ?? {} } : { diagnostics };
}

/**
 * Parses and checks `source` and returns the model named `name` (or the only one), throwing an
 * NqmError with every diagnostic when the file has errors.
 */
export function loadModel(
  source: string,
  options: CheckOptions & { name?: string } = {},
): {
  model: CheckedModel;
  warnings: readonly Diagnostic[];
  /** The dims bound from `options.inputShape`. */
  boundDims: Readonly<Record<string, number>>;
} {
  const result = checkSource(source, options);
  if (!result.models || hasErrors(result.diagnostics)) throw new NqmError(result.diagnostics);
  const names = result.models.map((m) => `\`${m.name}\``).join(", ");
  const model =
    options.name === undefined
      ? result.models.length === 1
        ? result.models[0]
        : undefined
      : result.models.find((m) => m.name === options.name);
  if (!model) {
    if (options.name === undefined) fail("NQM3005", { models: names });
    fail("NQM3004", { name: options.name, models: names });
  }
  return { model, warnings: result.diagnostics, boundDims: result.boundDims?.[model.name] ?? {} };
}
