/**
 * The checker: resolves names and dims, infers every expression's shape and validates the
 * model's structure, producing the typed AST. It reports every error it can find in one run;
 * an expression whose operand failed is not reported again (no cascades).
 */
import type { Decl, Expr, FileAst, InitAst, ModelAst, ShapeAst } from "../../grammar/ast.ts";
import {
  diagnostic,
  hasErrors,
  type Diagnostic,
  type DiagnosticCode,
  type Span,
} from "../../foundation/diagnostics.ts";
import { SCALAR_FUNCTIONS } from "../math.ts";
import { BUILTINS, INITIALIZERS, isBuiltin, type BuiltinSignature, type InitializerName } from "./builtins.ts";
import { isTensorOp, TENSOR_OPS, type TensorOpOptions, type TensorOpSpec } from "./tensor-ops.ts";
import type { AxisIndex, Padding } from "./tensor-ops.ts";
import { printExpr } from "../../grammar/printer.ts";
import type { CheckedModel, Initializer, LetBinding, TensorDecl, TypedExpr } from "./typed.ts";
import { formatShape, MAX_TENSOR_ENTRIES, type Shape, sizeOf } from "../../foundation/shape.ts";
import { didYouMean } from "../../foundation/suggest.ts";

export interface CheckOptions {
  /** Values for dims and consts, from --set; they override the defaults in the file. */
  readonly set?: Readonly<Record<string, number>>;
  readonly file?: string;
  /**
   * The shape of one input example from data: in a model with a single input of that rank, each
   * dim named in the input's declared shape and not in `set` takes its size from it.
   */
  readonly inputShape?: readonly number[];
  /** The image shape of the same examples ([c, h, w] or [h, w]), for an input of that rank. */
  readonly imageShape?: readonly number[];
}

export interface CheckResult {
  /** Every model of the file, present only when no error was found. */
  readonly models?: readonly CheckedModel[];
  readonly diagnostics: readonly Diagnostic[];
  /** Per model name, the dims bound from `inputShape`. */
  readonly boundDims?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** The dims of `model`'s single input that `set` leaves open, sized from `inputShape`. */
function dimsFromInput(
  model: ModelAst,
  inputShape: readonly number[],
  set: Readonly<Record<string, number>>,
): Record<string, number> {
  const bound: Record<string, number> = {};
  const inputs = model.decls.filter((d) => d.kind === "input");
  const input = inputs.length === 1 ? inputs[0] : undefined;
  if (input?.kind !== "input" || input.shape.entries.length !== inputShape.length) return bound;
  input.shape.entries.forEach((entry, axis) => {
    const size = inputShape[axis];
    if (entry.kind === "name" && !Object.hasOwn(set, entry.name) && size !== undefined)
      Object.defineProperty(bound, entry.name, { value: size, enumerable: true, writable: true, configurable: true });
  });
  return bound;
}

/** Checks every model of a parsed file. */
export function checkFile(ast: FileAst, options: CheckOptions = {}): CheckResult {
  const diagnostics: Diagnostic[] = [];
  const set = options.set ?? {};
  const models: CheckedModel[] = [];
  const boundDims: Record<string, Record<string, number>> = {};
  const seenModels = new Map<string, Span>();
  for (const model of ast.models) {
    const earlier = seenModels.get(model.name);
    if (earlier) {
      diagnostics.push(
        diagnostic(
          "NQM2016",
          { model: model.name },
          { file: options.file, span: model.nameSpan, related: { message: "first declared here", span: earlier } },
        ),
      );
    }
    seenModels.set(model.name, model.nameSpan);
    const shapes = [options.inputShape, options.imageShape].filter((s) => s !== undefined);
    const bound = Object.assign({}, ...shapes.map((shape) => dimsFromInput(model, shape, set)));
    Object.defineProperty(boundDims, model.name, { value: bound, enumerable: true, configurable: true });
    const checker = new ModelChecker(model, { ...bound, ...set }, options.file);
    const checked = checker.check();
    for (const d of checker.diagnostics) diagnostics.push(d);
    if (checked) models.push(checked);
  }
  const settable = new Set(
    ast.models.flatMap((m) => m.decls.flatMap((d) => (d.kind === "dim" || d.kind === "const" ? [d.name] : []))),
  );
  for (const name of Object.keys(set)) {
    if (!settable.has(name)) {
      const models = ast.models.map((m) => `\`${m.name}\``).join(", ");
      diagnostics.push(diagnostic("NQM3001", { name, models: `model ${models}`, hint: didYouMean(name, settable) }));
    }
  }
  // Source order; diagnostics without a span (command-line options) come last.
  diagnostics.sort((a, b) => (a.span?.start ?? Infinity) - (b.span?.start ?? Infinity));
  return hasErrors(diagnostics) ? { diagnostics } : { models, diagnostics, boundDims };
}

type SymbolKind = "dim" | "const" | "input" | "param" | "fixed" | "let";

/** A declared name: dims and consts carry their value, tensors their shape, lets their checked expression too. */
type ScopeSymbol = { readonly span: Span; used: boolean } & (
  | { readonly kind: "dim" | "const"; readonly value: number }
  | { readonly kind: "input" | "param" | "fixed"; readonly shape: Shape }
  | { readonly kind: "let"; readonly shape: Shape; readonly expr: TypedExpr }
);

const ARTICLE: Record<SymbolKind, string> = {
  dim: "a dim",
  const: "a const",
  input: "an input",
  param: "a param",
  fixed: "a fixed tensor",
  let: "a let binding",
};

class ModelChecker {
  readonly diagnostics: Diagnostic[] = [];
  private readonly scope = new Map<string, ScopeSymbol>();
  /** Every name the model declares, with its position, to tell "used before" from "unknown". */
  private readonly declared = new Map<string, Span>();
  /** The name whose declaration is being checked, to report a use inside its own definition. */
  private defining: string | undefined;

  constructor(
    private readonly model: ModelAst,
    private readonly set: Readonly<Record<string, number>>,
    private readonly file: string | undefined,
  ) {
    for (const decl of model.decls)
      if (decl.kind !== "output" && !this.declared.has(decl.name)) this.declared.set(decl.name, decl.nameSpan);
  }

  private report(
    code: DiagnosticCode,
    args: Record<string, string | number>,
    span: Span,
    related?: Diagnostic["related"],
  ): void {
    this.diagnostics.push(diagnostic(code, args, { file: this.file, span, ...(related ? { related } : {}) }));
  }

  check(): CheckedModel | undefined {
    const dims: Record<string, number> = {};
    const consts: Record<string, number> = {};
    const inputs: TensorDecl[] = [];
    const params: TensorDecl[] = [];
    const fixed: TensorDecl[] = [];
    const lets: LetBinding[] = [];
    let output: TypedExpr | undefined | null;
    let outputSpan: Span | undefined;

    for (const decl of this.model.decls) {
      if (decl.kind === "output") {
        if (outputSpan) {
          this.report("NQM2011", { model: this.model.name }, decl.span, {
            message: "the first output is here",
            span: outputSpan,
          });
          continue;
        }
        outputSpan = decl.span;
        output = this.expr(decl.expr);
        if (output && output.shape.length > 1)
          this.report("NQM2014", { shape: formatShape(output.shape) }, decl.expr.span);
        continue;
      }
      const previous = this.scope.get(decl.name);
      if (previous) {
        this.report("NQM2002", { name: decl.name, model: this.model.name }, decl.nameSpan, {
          message: "first declared here",
          span: previous.span,
        });
        continue;
      }
      this.defining = decl.name;
      const symbol = this.declaration(decl);
      this.defining = undefined;
      if (!symbol) continue;
      this.scope.set(decl.name, symbol);
      switch (symbol.kind) {
        case "dim":
          define(dims, decl.name, symbol.value);
          break;
        case "const":
          define(consts, decl.name, symbol.value);
          break;
        case "input":
          inputs.push({ name: decl.name, role: "input", shape: symbol.shape, span: decl.span });
          break;
        case "param":
        case "fixed": {
          const init = decl.kind === "param" || decl.kind === "fixed" ? this.initializer(decl.init) : undefined;
          if (!init) break;
          (symbol.kind === "param" ? params : fixed).push({
            name: decl.name,
            role: symbol.kind,
            shape: symbol.shape,
            init,
            span: decl.span,
          });
          break;
        }
        case "let":
          lets.push({ name: decl.name, expr: symbol.expr, span: decl.span });
          break;
      }
    }

    if (!outputSpan) this.report("NQM2010", { model: this.model.name }, this.model.nameSpan);
    if (inputs.length === 0 && !this.model.decls.some((d) => d.kind === "input"))
      this.report("NQM2017", { model: this.model.name }, this.model.nameSpan);
    if (params.length === 0 && !this.model.decls.some((d) => d.kind === "param"))
      this.report("NQM2021", { model: this.model.name }, this.model.nameSpan);
    for (const decl of this.model.decls) {
      if (decl.kind === "input" || decl.kind === "param" || decl.kind === "fixed") {
        const symbol = this.scope.get(decl.name);
        if (symbol && symbol.span === decl.nameSpan && !symbol.used) {
          this.report("NQM2012", { kind: decl.kind, name: decl.name }, decl.nameSpan);
        }
      }
    }
    if (hasErrors(this.diagnostics) || !output) return undefined;
    return {
      name: this.model.name,
      span: this.model.span,
      dims,
      consts,
      inputs,
      params,
      fixed,
      lets,
      output,
      outputShape: output.shape,
    };
  }

  private declaration(decl: Exclude<Decl, { kind: "output" }>): ScopeSymbol | undefined {
    const base = { span: decl.nameSpan, used: false };
    switch (decl.kind) {
      case "dim": {
        const override = Object.hasOwn(this.set, decl.name) ? this.set[decl.name] : undefined;
        if (override !== undefined) {
          if (Number.isInteger(override) && override > 0 && override <= MAX_TENSOR_ENTRIES)
            return { kind: "dim", ...base, value: override };
          this.diagnostics.push(
            diagnostic("NQM3003", {
              name: decl.name,
              value: String(override),
              reason: "a dim must be a positive integer, at most 2^31 (2147483648)",
            }),
          );
          return undefined;
        }
        if (!decl.value) {
          this.report("NQM2008", { name: decl.name }, decl.nameSpan);
          return undefined;
        }
        const value = this.integer(decl.value, `dim \`${decl.name}\``);
        if (value === undefined) return undefined;
        if (value <= 0) {
          this.report("NQM2009", { name: decl.name, value: String(value) }, decl.value.span);
          return undefined;
        }
        if (value > MAX_TENSOR_ENTRIES) {
          this.report("NQM2025", { name: decl.name, value: String(value) }, decl.value.span);
          return undefined;
        }
        return { kind: "dim", ...base, value };
      }
      case "const":
        return {
          kind: "const",
          ...base,
          value: (Object.hasOwn(this.set, decl.name) ? this.set[decl.name] : undefined) ?? decl.value,
        };
      case "input":
      case "param":
      case "fixed": {
        const shape = this.shape(decl.shape);
        if (shape && !this.withinLimit(`\`${decl.name}\``, shape, decl.shape.span)) return undefined;
        return shape ? { kind: decl.kind, ...base, shape } : undefined;
      }
      case "let": {
        const expr = this.expr(decl.expr);
        if (!expr) return undefined;
        return { kind: "let", ...base, shape: expr.shape, expr };
      }
    }
  }

  private shape(shape: ShapeAst): Shape | undefined {
    if (shape.entries.length > 4) {
      this.report("NQM2020", { rank: shape.entries.length }, shape.span);
      return undefined;
    }
    const sizes: number[] = [];
    for (const entry of shape.entries) {
      const size = this.integer(entry, "a shape entry");
      if (size === undefined) return undefined;
      if (size <= 0) {
        this.report("NQM2023", { value: String(size) }, entry.span);
        return undefined;
      }
      if (size > MAX_TENSOR_ENTRIES) {
        this.report(
          "NQM2030",
          { what: "a shape entry", requirement: "at most 2^31", found: `it is ${size}` },
          entry.span,
        );
        return undefined;
      }
      sizes.push(size);
    }
    return sizes;
  }

  /**
   * The value of an integer expression of numbers, dims and integer consts with `+ - * /` (a
   * division must be exact), folded at check time; undefined (reported) otherwise.
   */
  private integer(expr: Expr, what: string): number | undefined {
    const wrong = (found: string, span = expr.span): undefined => {
      this.report("NQM2030", { what, requirement: "an integer expression of numbers and dims", found }, span);
      return undefined;
    };
    switch (expr.kind) {
      case "number":
        return Number.isInteger(expr.value) ? expr.value : wrong(`\`${expr.value}\` is not an integer`);
      case "name": {
        const symbol = this.lookup(expr.name, expr.span);
        if (!symbol) return undefined;
        if (symbol.kind !== "dim" && symbol.kind !== "const") {
          this.report("NQM2013", { name: expr.name, kind: ARTICLE[symbol.kind], expected: "dim" }, expr.span);
          return undefined;
        }
        return Number.isInteger(symbol.value)
          ? symbol.value
          : wrong(`${symbol.kind} \`${expr.name}\` is ${symbol.value}, not an integer`);
      }
      case "negate": {
        const value = this.integer(expr.operand, what);
        return value === undefined ? undefined : -value;
      }
      case "binary": {
        if (expr.op === "^" || expr.op === "@") return wrong(`\`${expr.op}\` is not allowed here`);
        const a = this.integer(expr.left, what);
        const b = this.integer(expr.right, what);
        if (a === undefined || b === undefined) return undefined;
        if (expr.op === "/") {
          if (b === 0) return wrong(`\`${printExpr(expr)}\` divides by 0`);
          if (a % b !== 0) return wrong(`\`${printExpr(expr)}\` is ${a}/${b}, not a whole number`);
          return a / b;
        }
        const value = expr.op === "+" ? a + b : expr.op === "-" ? a - b : a * b;
        return Number.isSafeInteger(value) ? value : wrong(`\`${printExpr(expr)}\` is too large`);
      }
      default:
        return wrong(`\`${printExpr(expr)}\` is not one`);
    }
  }

  /** Finds a declared name, reporting unknown names and uses before the definition. */
  private lookup(name: string, span: Span): ScopeSymbol | undefined {
    const symbol = this.scope.get(name);
    if (symbol) {
      symbol.used = true;
      return symbol;
    }
    if (name === this.defining) {
      this.report("NQM2024", { name }, span);
      return undefined;
    }
    // A name declared earlier but missing from the scope had an error in its declaration,
    // already reported: stay silent rather than cascade.
    const later = this.declared.get(name);
    if (later && later.start > span.start) {
      this.report("NQM2003", { name }, span, { message: "defined here", span: later });
    } else if (!later) {
      if (isBuiltin(name))
        this.report("NQM2013", { name, kind: "a function", expected: `value; call it as \`${name}(...)\`` }, span);
      else this.report("NQM2001", { name, hint: didYouMean(name, this.scope.keys()) }, span);
    }
    return undefined;
  }

  private initializer(init: InitAst | undefined): Initializer | undefined {
    if (!init) return { kind: "normal", args: [0, 1] };
    if (!Object.hasOwn(INITIALIZERS, init.name)) {
      this.report(
        "NQM2018",
        { name: init.name, hint: didYouMean(init.name, Object.keys(INITIALIZERS)) },
        init.nameSpan,
      );
      return undefined;
    }
    const kind = init.name as InitializerName;
    const names: readonly string[] = INITIALIZERS[kind];
    if (init.args.length !== names.length) {
      const expected =
        names.length === 0
          ? "no arguments"
          : `${names.length} argument${names.length > 1 ? "s" : ""} (${names.join(", ")})`;
      this.report("NQM2005", { name: init.name, expected, found: init.args.length }, init.span);
      return undefined;
    }
    const args: number[] = [];
    for (const arg of init.args) {
      const value = this.constantArgument(init.name, arg);
      if (value === undefined) return undefined;
      args.push(value);
    }
    if (kind === "normal" && !((args[1] ?? Number.NaN) >= 0)) {
      this.report("NQM2022", { name: "normal", requirement: `a standard deviation ≥ 0, not ${args[1]}` }, init.span);
      return undefined;
    }
    if (kind === "uniform" && !((args[0] ?? Number.NaN) <= (args[1] ?? Number.NaN))) {
      this.report("NQM2022", { name: "uniform", requirement: `lo ≤ hi, not ${args[0]} > ${args[1]}` }, init.span);
      return undefined;
    }
    return { kind, args };
  }

  private constantArgument(owner: string, arg: Expr): number | undefined {
    const typed = this.expr(arg);
    if (!typed) return undefined;
    const value = constantValue(typed);
    if (value === undefined) {
      this.report(
        "NQM2019",
        {
          name: owner,
          found: `this argument ${typed.shape.length > 0 ? `has shape ${formatShape(typed.shape)}` : "depends on a tensor"}`,
        },
        arg.span,
      );
      return undefined;
    }
    if (!Number.isFinite(value)) {
      this.report("NQM2019", { name: owner, found: `this argument evaluates to ${value}` }, arg.span);
      return undefined;
    }
    return value;
  }

  /** False (and NQM2026 reported) for a shape of more entries than a tensor may have. */
  private withinLimit(what: string, shape: Shape, span: Span): boolean {
    const entries = sizeOf(shape);
    if (entries <= MAX_TENSOR_ENTRIES) return true;
    this.report("NQM2026", { what, shape: formatShape(shape), entries: String(entries) }, span);
    return false;
  }

  /**
   * Types an expression; undefined when it has an error (already reported). Products of sizes
   * (`@`, `outer`) can make a value larger than any declared tensor: its size is bounded here.
   */
  private expr(expr: Expr): TypedExpr | undefined {
    const typed = this.typedExpr(expr);
    return typed && this.withinLimit("this expression", typed.shape, expr.span) ? typed : undefined;
  }

  private typedExpr(expr: Expr): TypedExpr | undefined {
    switch (expr.kind) {
      case "number":
        return { kind: "constant", value: expr.value, shape: [], span: expr.span };
      case "name": {
        const symbol = this.lookup(expr.name, expr.span);
        if (!symbol) return undefined;
        switch (symbol.kind) {
          case "dim":
          case "const":
            return { kind: "constant", value: symbol.value, name: expr.name, shape: [], span: expr.span };
          case "let":
            return { kind: "let", name: expr.name, shape: symbol.shape, span: expr.span };
          default:
            return { kind: "tensor", name: expr.name, role: symbol.kind, shape: symbol.shape, span: expr.span };
        }
      }
      case "negate": {
        const operand = this.expr(expr.operand);
        return operand && { kind: "negate", operand, shape: operand.shape, span: expr.span };
      }
      case "binary":
        return this.binary(expr);
      case "call":
        return this.call(expr);
      case "index":
        return this.indexing(expr);
      case "list":
      case "string":
        this.report(
          "NQM2031",
          {
            what: expr.kind === "list" ? "a list" : "a string",
            where:
              expr.kind === "list"
                ? "`reshape(x, [a, b])`, `transpose(x, [1, 0, 2])`"
                : "the padding of `conv1d` and `conv2d`",
          },
          expr.span,
        );
        return undefined;
    }
  }

  /** `x[i, a:b, :]`: constant indices and slices, negative ones counting from the end. */
  private indexing(expr: Extract<Expr, { kind: "index" }>): TypedExpr | undefined {
    const subject = this.expr(expr.subject);
    if (!subject) return undefined;
    const shape = subject.shape;
    if (expr.indices.length > shape.length) {
      this.report(
        "NQM2032",
        {
          op: "[]",
          expected: `at most ${shape.length} ${shape.length === 1 ? "index" : "indices"} for a value of shape ${formatShape(shape)}`,
          found: `this has ${expr.indices.length}`,
        },
        expr.span,
      );
      return undefined;
    }
    const axes: AxisIndex[] = [];
    for (const [axis, index] of expr.indices.entries()) {
      const size = shape[axis] ?? 0;
      const resolve = (e: Expr, end: boolean): number | undefined => {
        const value = this.integer(e, "an index");
        if (value === undefined) return undefined;
        const at = value < 0 ? value + size : value;
        if (at >= 0 && (end ? at <= size : at < size)) return at;
        this.report(
          "NQM2032",
          {
            op: "[]",
            expected: `an index in [${-size}, ${end ? size : size - 1}] on axis ${axis} (size ${size})`,
            found: `this one is ${value}`,
          },
          e.span,
        );
        return undefined;
      };
      if (index.kind === "at") {
        const at = resolve(index.index, false);
        if (at === undefined) return undefined;
        axes.push({ kind: "at", index: at });
        continue;
      }
      const start = index.start ? resolve(index.start, true) : 0;
      const end = index.end ? resolve(index.end, true) : size;
      if (start === undefined || end === undefined) return undefined;
      if (end <= start) {
        this.report(
          "NQM2032",
          { op: "[]", expected: "a slice a:b with a < b", found: `this one is ${start}:${end}, which is empty` },
          index.span,
        );
        return undefined;
      }
      axes.push({ kind: "slice", start, end });
    }
    const kept = shape.slice(expr.indices.length);
    const result = [...axes.flatMap((a) => (a.kind === "slice" ? [a.end - a.start] : [])), ...kept];
    return { kind: "index", subject, axes, shape: result, span: expr.span };
  }

  /** A tensor built-in: its tensor arguments typed, then its options evaluated to constants. */
  private tensorOp(expr: Extract<Expr, { kind: "call" }>, spec: TensorOpSpec): TypedExpr | undefined {
    const fn = expr.callee as keyof typeof TENSOR_OPS;
    const count = expr.args.length;
    if (count < spec.tensors + spec.required || count > spec.tensors + spec.options.length) {
      this.report("NQM2005", { name: fn, expected: spec.takes, found: `${count}` }, expr.span);
      for (const arg of expr.args) if (arg.kind !== "list" && arg.kind !== "string") this.expr(arg);
      return undefined;
    }
    const args: TypedExpr[] = [];
    let failed = false;
    for (const arg of expr.args.slice(0, spec.tensors)) {
      const typed = this.expr(arg);
      if (typed) args.push(typed);
      else failed = true;
    }
    const options: Record<string, number | string | readonly number[]> = {};
    expr.args.slice(spec.tensors).forEach((arg, i) => {
      const kind = spec.options[i];
      if (kind === undefined) return;
      const value = this.option(fn, kind, arg);
      if (value === undefined) failed = true;
      else options[kind] = value;
    });
    if (failed) return undefined;
    const shape = spec.shape(
      args.map((a) => a.shape),
      options as TensorOpOptions,
    );
    if ("error" in shape) {
      const at = expr.args[shape.argument];
      const typed = args[shape.argument];
      this.report(
        "NQM2032",
        {
          op: fn,
          expected: shape.error,
          found: typed
            ? `this argument has shape ${formatShape(typed.shape)}`
            : `this is \`${at ? printExpr(at) : "missing"}\``,
        },
        at?.span ?? expr.span,
      );
      return undefined;
    }
    return { kind: "tensorop", fn, args, options: options as TensorOpOptions, shape, span: expr.span };
  }

  /** One option of a tensor built-in, as a constant. */
  private option(fn: string, kind: string, arg: Expr): number | string | readonly number[] | undefined {
    const expect = (expected: string, found: string): undefined => {
      this.report("NQM2032", { op: fn, expected, found }, arg.span);
      return undefined;
    };
    switch (kind) {
      case "padding":
        if (arg.kind !== "string") return expect('a padding, "valid" or "same"', `this is \`${printExpr(arg)}\``);
        return arg.value === "valid" || arg.value === "same"
          ? (arg.value satisfies Padding)
          : expect('a padding, "valid" or "same"', `this is "${arg.value}"`);
      case "shape":
      case "perm": {
        if (arg.kind !== "list")
          return expect(
            kind === "shape" ? "a shape such as [a, b * c]" : "an axis order such as [1, 0, 2]",
            `this is \`${printExpr(arg)}\``,
          );
        const values: number[] = [];
        for (const item of arg.items) {
          const value = this.integer(item, kind === "shape" ? "a shape entry" : "an axis");
          if (value === undefined) return undefined;
          if (kind === "shape" && value <= 0) {
            this.report("NQM2023", { value: String(value) }, item.span);
            return undefined;
          }
          values.push(value);
        }
        return values;
      }
      default:
        if (arg.kind === "list" || arg.kind === "string")
          return expect(`an integer ${kind}`, `this is \`${printExpr(arg)}\``);
        return this.integer(arg, `the ${kind} of \`${fn}\``);
    }
  }

  private binary(expr: Extract<Expr, { kind: "binary" }>): TypedExpr | undefined {
    const left = this.expr(expr.left);
    if (expr.op === "^") {
      const right = this.expr(expr.right);
      if (!left || !right) return undefined;
      const exponent = constantValue(right);
      if (exponent === undefined) {
        this.report(
          "NQM2007",
          {
            found:
              right.shape.length > 0
                ? `this one has shape ${formatShape(right.shape)}`
                : "this one depends on a tensor",
          },
          expr.right.span,
        );
        return undefined;
      }
      if (!Number.isFinite(exponent)) {
        this.report("NQM2007", { found: `this one evaluates to ${exponent}` }, expr.right.span);
        return undefined;
      }
      return { kind: "power", base: left, exponent, shape: left.shape, span: expr.span };
    }
    const right = this.expr(expr.right);
    if (!left || !right) return undefined;
    const shape =
      expr.op === "@"
        ? this.matmulShape(left.shape, right.shape, expr)
        : this.elementwiseShape(expr.op, left.shape, right.shape, expr.span);
    return shape && { kind: "binary", op: expr.op, left, right, shape, span: expr.span };
  }

  private elementwiseShape(op: string, a: Shape, b: Shape, span: Span): Shape | undefined {
    if (a.length === 0) return b;
    if (b.length === 0) return a;
    if (a.length === b.length && a.every((size, i) => size === b[i])) return a;
    this.report("NQM2006", { op, left: formatShape(a), right: formatShape(b), detail: mismatchDetail(a, b) }, span);
    return undefined;
  }

  private matmulShape(a: Shape, b: Shape, expr: Extract<Expr, { kind: "binary" }>): Shape | undefined {
    for (const [shape, side] of [
      [a, expr.left],
      [b, expr.right],
    ] as const) {
      if (shape.length === 0) {
        this.report(
          "NQM2015",
          { op: "@", expected: "vectors or matrices (use `*` to scale by a scalar)", shape: formatShape(shape) },
          side.span,
        );
        return undefined;
      }
    }
    const inner = [a.at(-1), b[0]];
    if (inner[0] !== inner[1]) {
      this.report(
        "NQM2006",
        {
          op: "@",
          left: formatShape(a),
          right: formatShape(b),
          detail: `; the inner sizes differ: ${inner[0]} (last of the left) vs ${inner[1]} (first of the right)`,
        },
        expr.span,
      );
      return undefined;
    }
    return [...a.slice(0, -1), ...b.slice(1)];
  }

  private call(expr: Extract<Expr, { kind: "call" }>): TypedExpr | undefined {
    const { callee } = expr;
    if (isTensorOp(callee)) return this.tensorOp(expr, TENSOR_OPS[callee]);
    if (!isBuiltin(callee)) {
      const symbol = this.scope.get(callee);
      if (symbol) {
        symbol.used = true;
        this.report("NQM2013", { name: callee, kind: ARTICLE[symbol.kind], expected: "function" }, expr.calleeSpan);
      } else
        this.report(
          "NQM2004",
          { name: callee, hint: didYouMean(callee, FUNCTION_LIST), available: FUNCTION_LIST.join(", ") },
          expr.calleeSpan,
        );
      for (const arg of expr.args) if (arg.kind !== "list" && arg.kind !== "string") this.expr(arg);
      return undefined;
    }
    const signature: BuiltinSignature = BUILTINS[callee];
    if (expr.args.length !== signature.arity) {
      this.report("NQM2005", { name: callee, expected: signature.takes, found: `${expr.args.length}` }, expr.span);
      // Still check the arguments: their own errors, and the names they use.
      for (const arg of expr.args) this.expr(arg);
      return undefined;
    }
    const args: TypedExpr[] = [];
    const constants: number[] = [];
    let failed = false;
    expr.args.forEach((arg, i) => {
      if (signature.constantArgs.includes(i)) {
        const value = this.constantArgument(callee, arg);
        if (value === undefined) failed = true;
        else constants.push(value);
        return;
      }
      const typed = this.expr(arg);
      if (typed) args.push(typed);
      else failed = true;
    });
    if (failed) return undefined;
    const shape = signature.shape(args.map((a) => a.shape));
    if ("error" in shape) {
      const shapes = args.map((a) => formatShape(a.shape));
      // Two vectors that should have the same length disagree: show both shapes.
      const [first, second] = args;
      if (first?.shape.length === 1 && second?.shape.length === 1 && args.length === 2) {
        this.report(
          "NQM2006",
          {
            op: callee,
            left: formatShape(first.shape),
            right: formatShape(second.shape),
            detail: mismatchDetail(first.shape, second.shape),
          },
          expr.span,
        );
      } else {
        this.report(
          "NQM2015",
          { op: callee, expected: shape.error, shape: shapes[shape.argument] ?? "?" },
          expr.args[shape.argument]?.span ?? expr.span,
        );
      }
      return undefined;
    }
    return { kind: "call", fn: callee, args, constants, shape, span: expr.span };
  }
}

/** Every function model files may call, sorted: what an unknown function's message lists. */
const FUNCTION_LIST = [...new Set([...Object.keys(BUILTINS), ...Object.keys(TENSOR_OPS)])].sort();

/** Sets a property even for names such as `__proto__`, which plain assignment would not. */
function define<T>(record: Record<string, T>, name: string, value: T): void {
  Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
}

function mismatchDetail(a: Shape, b: Shape): string {
  if (a.length !== b.length) return `; their ranks differ (${a.length} vs ${b.length})`;
  const axis = a.findIndex((size, i) => size !== b[i]);
  return `; axis ${axis} differs: ${a[axis]} vs ${b[axis]}`;
}

/** The value of an expression built only from numbers, dims and consts; else undefined. */
function constantValue(expr: TypedExpr): number | undefined {
  switch (expr.kind) {
    case "constant":
      return expr.value;
    case "negate": {
      const v = constantValue(expr.operand);
      return v === undefined ? undefined : -v;
    }
    case "power": {
      const v = constantValue(expr.base);
      return v === undefined ? undefined : v ** expr.exponent;
    }
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the inner switch over expr.op is exhaustive (checked by tsc)
    case "binary": {
      const a = constantValue(expr.left);
      const b = constantValue(expr.right);
      if (a === undefined || b === undefined) return undefined;
      switch (expr.op) {
        case "+":
          return a + b;
        case "-":
          return a - b;
        case "*":
          return a * b;
        case "/":
          return a / b;
        case "@":
          return undefined;
      }
    }
    case "call": {
      if (expr.args.length !== 1 || expr.constants.length > 0 || !Object.hasOwn(SCALAR_FUNCTIONS, expr.fn))
        return undefined;
      const [argument] = expr.args;
      const v = argument && constantValue(argument);
      return v === undefined ? undefined : SCALAR_FUNCTIONS[expr.fn as keyof typeof SCALAR_FUNCTIONS](v);
    }
    case "tensor":
    case "let":
    case "tensorop":
    case "index":
      return undefined;
  }
}
