/**
 * Diagnostics: every user error or warning is a record with a stable code, a message and a
 * source span. All messages live in the one table below, keyed by code and grouped by stage:
 * 1xxx syntax, 2xxx names and shapes, 3xxx compile options, 4xxx data and runtime.
 * Positions are offsets; line and column are computed only when a diagnostic is displayed.
 */

export type Severity = "error" | "warning";

/** A half-open range of source offsets [start, end). */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly message: string;
  /** The file the span refers to; absent for diagnostics not tied to a source file. */
  readonly file?: string;
  readonly span?: Span;
  /** A secondary location, e.g. the earlier declaration of a redeclared name. */
  readonly related?: { readonly message: string; readonly span: Span };
}

/** Message templates; `{name}` placeholders are filled from the arguments of `diagnostic`. */
export const MESSAGES = {
  // 1xxx: syntax
  NQM1001: ["error", "unexpected character {text}"],
  NQM1002: ["error", "expected {expected} but found {found}"],
  NQM1003: ["error", "unexpected {found}; expected one of: {expected}"],
  NQM1004: ["error", "the file holds no model; expected `model NAME { ... }`"],
  NQM1005: ["error", "{found} is not a valid number"],
  NQM1006: ["error", "`{name}` is a keyword and cannot be used as a name"],
  NQM1007: ["error", "this expression is nested too deeply; split it into parts with `let`"],
  // 2xxx: names, shapes and model structure
  NQM2001: ["error", "unknown name `{name}`{hint}"],
  NQM2002: ["error", "`{name}` is already declared in model `{model}`"],
  NQM2003: ["error", "`{name}` is used before its definition"],
  NQM2004: ["error", "unknown function `{name}`{hint}; the built-in functions are: {available}"],
  NQM2005: ["error", "`{name}` takes {expected} but was given {found}"],
  NQM2006: ["error", "shape mismatch in `{op}`: {left} and {right}{detail}"],
  NQM2007: ["error", "the exponent of `^` must be a finite constant scalar; {found}"],
  NQM2008: [
    "error",
    "dim `{name}` has no value; give it a default (`dim {name} = 64`) or set it with --set {name}=VALUE",
  ],
  NQM2009: ["error", "dim `{name}` must be a positive integer, not {value}"],
  NQM2010: ["error", "model `{model}` has no `output`"],
  NQM2011: ["error", "model `{model}` has a second `output`; a model has exactly one"],
  NQM2012: ["warning", "{kind} `{name}` is declared but never used"],
  NQM2013: ["error", "`{name}` is {kind}, not a {expected}"],
  NQM2014: ["error", "the output must be a scalar or a vector, but has shape {shape}"],
  NQM2015: ["error", "`{op}` expects {expected}, but its argument has shape {shape}"],
  NQM2016: ["error", "model `{model}` is declared twice in this file"],
  NQM2017: ["error", "model `{model}` has no `input`"],
  NQM2018: ["error", "unknown initializer `{name}`{hint}"],
  NQM2019: ["error", "`{name}` needs a finite constant scalar here; {found}"],
  NQM2020: ["error", "shapes have at most 4 dimensions, but this one has {rank}"],
  NQM2021: ["error", "model `{model}` has no trainable `param`"],
  NQM2022: ["error", "initializer `{name}` needs {requirement}"],
  NQM2023: ["error", "a shape entry must be a positive integer or a dim name, not {value}"],
  NQM2024: ["error", "`{name}` is used in its own definition"],
  NQM2025: ["error", "dim `{name}` is {value}, more than the limit of 2^31 (2147483648) on any size"],
  NQM2026: [
    "error",
    "{what} has shape {shape}, {entries} entries: more than the limit of 2^31 (2147483648) per tensor",
  ],
  NQM2030: ["error", "{what} must be {requirement}; {found}"],
  NQM2031: ["error", "{what} can only be an argument of a built-in that takes one ({where})"],
  NQM2032: ["error", "`{op}` expects {expected}; {found}"],
  // 3xxx: compile options
  NQM3001: ["error", "--set names `{name}`, which is not a dim or const of {models}{hint}"],
  NQM3002: ["error", "--set expects NAME=VALUE, not `{text}`"],
  NQM3003: ["error", "--set {name}={value}: {reason}"],
  NQM3004: ["error", "no model named `{name}` in this file; it holds: {models}"],
  NQM3005: ["error", "this file holds several models ({models}); choose one with --model-name"],
  NQM3006: ["error", "cannot read {file}: {reason}"],
  NQM3007: ["error", "invalid option {option}: {reason}"],
  NQM3008: [
    "error",
    "the compiled kernels would need about {estimate} of memory, more than the limit of {limit}; lower the sizes or the batch",
  ],
  NQM3009: ["error", "cannot write {path}: {reason}"],
  NQM3010: ["error", "{what} would need about {estimate} of memory, more than the limit of {limit}; {advice}"],
  // 4xxx: data and runtime
  NQM4001: ["error", "invalid point file: {reason}"],
  NQM4002: ["error", "{what} `{name}` should have shape {expected} but has {found}"],
  NQM4003: ["error", "invalid data set: {reason}"],
  NQM4004: ["error", "the data's inputs have shape {found}, but the model's input `{name}` has shape {expected}"],
  NQM4005: ["error", "the data's labels have {found} values per example, but the model's output has {expected}"],
  NQM4006: ["error", "{what} is not a finite number at {where}"],
  NQM4007: ["error", "invalid run: {reason}"],
  NQM4008: [
    "error",
    "{folder} is in use by another sweep ({owner}); wait for it to end, or delete {lock} if it is gone",
  ],
  NQM4009: ["error", "malformed data file {path}: {reason}"],
  NQM4010: ["error", "unsupported data file {path}: {reason}"],
  NQM4011: ["error", "cannot reach the queue at {url}: {reason}; {advice}"],
  NQM4012: ["error", "run {id} failed on the queue after {attempts}: {reason}"],
  NQM4013: [
    "error",
    "job {job} was enqueued by nqm {theirs}, but this worker is nqm {ours}; run the same nqm on every machine",
  ],
  NQM4014: [
    "error",
    "the data set {data} on this machine is not the coordinator's (content hash {ours} here, {theirs} there); {advice}",
  ],
} as const satisfies Record<string, readonly [Severity, string]>;

export type DiagnosticCode = keyof typeof MESSAGES;

/** Builds a diagnostic from its code and the values of its template's placeholders. */
export function diagnostic(
  code: DiagnosticCode,
  args: Record<string, string | number>,
  location: { span?: Span; file?: string; related?: Diagnostic["related"] } = {},
): Diagnostic {
  const [severity, template] = MESSAGES[code];
  const message = template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = args[key];
    if (value === undefined) throw new Error(`diagnostic ${code}: no value for {${key}}`);
    return String(value);
  });
  return { code, severity, message, ...location };
}

/** An exception carrying user-facing diagnostics; the CLI prints them and exits non-zero. */
export class NqmError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map((d) => `${d.code}: ${d.message}`).join("\n"));
    this.name = "NqmError";
  }
}

/** Throws an NqmError with one diagnostic. */
export function fail(
  code: DiagnosticCode,
  args: Record<string, string | number>,
  location?: { span?: Span; file?: string },
): never {
  throw new NqmError([diagnostic(code, args, location)]);
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}
