/**
 * Elementwise steps of a kernel plan (plan.ts: map, reduce, batchSum) as WebAssembly SIMD
 * functions, built into one module with the GEMM so that one thread pool runs both.
 *
 * Each function computes a range of its step, so that the runtime can hand slices to threads:
 *   rows     (a map or reduction per example): examples [from, to);
 *   entries  (a map of a shared value, or a batch sum): entries [from, to), over all n examples;
 * its parameters are (from, to, n, …the step's shared scalars), the scalars being plan locals
 * that the JavaScript part of the kernel computed. Entries go two (f64) or four (f32) to a
 * v128 and the remainder one at a time; a lane does the same IEEE operation as the scalar code,
 * so an entry's value does not depend on where the slices were cut, and results are identical
 * for any number of threads. A reduction keeps `lanes` interleaved partial sums, so it rounds
 * differently from the JavaScript loop (within the same bound: docs/verify.md).
 *
 * Exactly rounded operations (arithmetic, sqrt, comparisons, selects) have a form in both
 * dtypes. exp, sigmoid and tanh have float64 forms of our own (below: ≤ 2 ulp, like the engine's
 * Math functions, which the JavaScript backend calls); a float32 step that applies them, and any
 * step with another transcendental function (log, softplus, sin, cos), stays in JavaScript.
 */
import type { Attrs, OpName } from "../../ir/node.ts";
import type { Dtype } from "../api.ts";
import type { Index, Region, Scalar, Step } from "../plan.ts";
import { type FunctionBuilder, type Local, ModuleBuilder, type PlainOp, type ValType } from "./encoder.ts";
import { addGemm, GEMM_SHAPES } from "./gemm.ts";

/** How a step's range is cut: by examples, or by entries (see the file comment). */
export type RangeKind = "rows" | "entries";

/** A step the WebAssembly backend computes, with where its arrays live. */
export interface WasmStep {
  readonly step: Extract<Step, { kind: "map" | "reduce" | "batchSum" }>;
  readonly range: RangeKind;
  /** The step's shared scalars (plan locals), in parameter order. */
  readonly locals: readonly string[];
}

/** Parameters before the shared scalars: from, to, n. */
const RANGE_PARAMETERS = 3;

/**
 * The most shared scalars a step may take: the thread pool passes a call's arguments through
 * 16 slots (pool.ts POOL_ARGS), three of which are the range.
 */
const MAX_LOCALS = 13;

/** The fewest entries per example (or per batch sum) for which a step runs in WebAssembly. */
const MIN_ENTRIES = 16;

// ---------------------------------------------------------------------------------------------
// Which steps

/** The shared scalars a value reads, in first-use order. */
function localsOf(value: Scalar, into: string[] = []): string[] {
  if (value.kind === "local" && !into.includes(value.name)) into.push(value.name);
  if (value.kind === "apply") for (const arg of value.args) localsOf(arg, into);
  return into;
}

/** Whether a value has a WebAssembly form: every op has one and every load is contiguous. */
function expressible(value: Scalar, dtype: Dtype, inMemory: (array: string) => boolean): boolean {
  switch (value.kind) {
    case "const":
    case "local":
      return true;
    case "load":
      return inMemory(value.region.array) && readsContiguously(value.region, value.index);
    case "apply":
      return formOf(value.op, dtype) !== undefined && value.args.every((arg) => expressible(arg, dtype, inMemory));
  }
}

/** Entry i of the loop reads entry i of the region, or its one shared entry. */
function readsContiguously(region: Region, index: Index): boolean {
  return region.size === 1 || index.kind === "entry" || index.kind === "first";
}

/**
 * The step as a WebAssembly function, or undefined when it stays in JavaScript: a result that
 * is a shared scalar (a local), an op or a strided read without a form here, an array outside
 * the memory, or a step too small for a call to pay (under 16 entries per example or batch sum,
 * a map of a shared value under 64 entries).
 */
export function wasmStep(step: Step, dtype: Dtype, inMemory: (array: string) => boolean): WasmStep | undefined {
  if (step.kind !== "map" && step.kind !== "reduce" && step.kind !== "batchSum") return undefined;
  if (step.dest.kind !== "region" || !inMemory(step.dest.region.array)) return undefined;
  const value = step.kind === "map" ? step.value : step.term;
  if (!expressible(value, dtype, inMemory)) return undefined;
  const locals = localsOf(value);
  if (locals.length > MAX_LOCALS) return undefined;
  // Entries per unit of the range: too few, and a call costs more than the loop it replaces
  // (a deep chain of scalar lets would otherwise become thousands of tiny functions).
  const inner = step.kind === "reduce" ? step.count : step.size;
  let range: RangeKind;
  if (step.kind === "batchSum" && inner >= MIN_ENTRIES) range = "entries";
  else if (step.kind !== "batchSum" && step.batched && inner >= MIN_ENTRIES) range = "rows";
  else if (step.kind === "map" && !step.batched && inner >= 64) range = "entries";
  else return undefined;
  return { step, range, locals };
}

// ---------------------------------------------------------------------------------------------
// Emission

type Mode = "vector" | "scalar";
type Arith = "add" | "sub" | "mul" | "div" | "neg" | "abs" | "sqrt" | "gt" | "lt";

const ARITH: Record<Dtype, Record<Mode, Record<Arith, PlainOp>>> = {
  f64: {
    vector: {
      add: "f64x2.add",
      sub: "f64x2.sub",
      mul: "f64x2.mul",
      div: "f64x2.div",
      neg: "f64x2.neg",
      abs: "f64x2.abs",
      sqrt: "f64x2.sqrt",
      gt: "f64x2.gt",
      lt: "f64x2.lt",
    },
    scalar: {
      add: "f64.add",
      sub: "f64.sub",
      mul: "f64.mul",
      div: "f64.div",
      neg: "f64.neg",
      abs: "f64.abs",
      sqrt: "f64.sqrt",
      gt: "f64.gt",
      lt: "f64.lt",
    },
  },
  f32: {
    vector: {
      add: "f32x4.add",
      sub: "f32x4.sub",
      mul: "f32x4.mul",
      div: "f32x4.div",
      neg: "f32x4.neg",
      abs: "f32x4.abs",
      sqrt: "f32x4.sqrt",
      gt: "f32x4.gt",
      lt: "f32x4.lt",
    },
    scalar: {
      add: "f32.add",
      sub: "f32.sub",
      mul: "f32.mul",
      div: "f32.div",
      neg: "f32.neg",
      abs: "f32.abs",
      sqrt: "f32.sqrt",
      gt: "f32.gt",
      lt: "f32.lt",
    },
  },
};

/** Element type facts of a dtype. */
const ELEMENT = {
  f64: {
    bytes: 8,
    shift: 3,
    lanes: 2,
    splat: "f64x2.splat",
    loadSplat: "v128.load64_splat",
    extract: "f64x2.extract_lane",
    load: "f64.load",
    store: "f64.store",
  },
  f32: {
    bytes: 4,
    shift: 2,
    lanes: 4,
    splat: "f32x4.splat",
    loadSplat: "v128.load32_splat",
    extract: "f32x4.extract_lane",
    load: "f32.load",
    store: "f32.store",
  },
} as const;

/** Pushes one value (an argument of a form). */
type Push = () => void;

/**
 * What forms use to emit one lane's (or one entry's) computation: the same calls build the
 * vector and the scalar code.
 */
class Emitter {
  constructor(
    readonly f: FunctionBuilder,
    private readonly dtype: Dtype,
    readonly mode: Mode,
  ) {}

  /** Applies an arithmetic op to the values on the stack. */
  op(name: Arith): void {
    this.f.op(ARITH[this.dtype][this.mode][name]);
  }

  /** Pushes a constant (splat across the lanes in vector mode). */
  constant(value: number): void {
    if (this.dtype === "f64") this.f.f64(value);
    else this.f.f32(value);
    if (this.mode === "vector") this.f.op(ELEMENT[this.dtype].splat);
  }

  /** Evaluates `value` once into a new local and returns a push of it. */
  keep(value: Push): Push {
    value();
    const local = this.f.local(this.mode === "vector" ? "v128" : this.dtype);
    this.f.set(local);
    return () => this.f.get(local);
  }

  /** mask ? ifTrue : ifFalse, lane by lane (the mask is a comparison's result). */
  choose(mask: Push, ifTrue: Push, ifFalse: Push): void {
    ifTrue();
    ifFalse();
    mask();
    this.f.op(this.mode === "vector" ? "v128.bitselect" : "select");
  }

  /** The same computation on v128 values (transcendental forms compute a scalar in lane 0). */
  vector(): Emitter {
    return this.mode === "vector" ? this : new Emitter(this.f, this.dtype, "vector");
  }

  /** Pushes x > 0 as a mask. */
  positive(x: Push): Push {
    return () => {
      x();
      this.constant(0);
      this.op("gt");
    };
  }
}

/** An op's WebAssembly form: it pushes the op applied to its pushed arguments. */
type WasmForm = (e: Emitter, args: readonly Push[], attrs: Attrs) => void;

/** The i-th argument of a form (the op table fixes the arity; a mismatch is an internal error). */
function argument(args: readonly Push[], i: number): Push {
  const push = args[i];
  if (push === undefined) throw new Error(`internal: a WebAssembly form lacks argument ${i}`);
  return push;
}

const binary =
  (name: Arith): WasmForm =>
  (e, args) => {
    argument(args, 0)();
    argument(args, 1)();
    e.op(name);
  };

const unary =
  (name: Arith): WasmForm =>
  (e, args) => {
    argument(args, 0)();
    e.op(name);
  };

/** The slope attribute of leaky_relu and leaky_step. */
function slope(attrs: Attrs): number {
  if (attrs.slope === undefined) throw new Error("internal: a leaky op without its slope");
  return attrs.slope;
}

/**
 * The ops the WebAssembly backend computes, each with the value at NaN and ±0 that
 * compiler/math.ts gives (x > 0 is false for NaN, so relu(NaN) = step(NaN) = sign(NaN) = 0).
 * An op missing here keeps its steps in JavaScript.
 */
const FORMS: Partial<Record<OpName, WasmForm>> = {
  add: binary("add"),
  sub: binary("sub"),
  mul: binary("mul"),
  div: binary("div"),
  neg: unary("neg"),
  abs: unary("abs"),
  sqrt: unary("sqrt"),
  broadcast: (_, args) => argument(args, 0)(),
  square: (e, args) => {
    const x = e.keep(argument(args, 0));
    x();
    x();
    e.op("mul");
  },
  relu: (e, args) => {
    const x = e.keep(argument(args, 0));
    e.choose(e.positive(x), x, () => e.constant(0));
  },
  step: (e, args) =>
    e.choose(
      e.positive(argument(args, 0)),
      () => e.constant(1),
      () => e.constant(0),
    ),
  sign: (e, args) => {
    const x = e.keep(argument(args, 0));
    const negative = () => {
      x();
      e.constant(0);
      e.op("lt");
    };
    e.choose(
      e.positive(x),
      () => e.constant(1),
      () =>
        e.choose(
          negative,
          () => e.constant(-1),
          () => e.constant(0),
        ),
    );
  },
  leaky_relu: (e, args, attrs) => {
    const x = e.keep(argument(args, 0));
    e.choose(e.positive(x), x, () => {
      e.constant(slope(attrs));
      x();
      e.op("mul");
    });
  },
  leaky_step: (e, args, attrs) =>
    e.choose(
      e.positive(argument(args, 0)),
      () => e.constant(1),
      () => e.constant(slope(attrs)),
    ),
};

// ---------------------------------------------------------------------------------------------
// exp, sigmoid and tanh in float64
//
// exp(x): k = nearest(x/ln 2), r = x − k·ln 2 in two parts (Cody–Waite: LN2_HI has 32 significant
// bits, so k·LN2_HI is exact for |k| < 2¹¹ and r loses nothing), |r| ≤ ln 2 / 2; e^r by its Taylor
// polynomial through r¹³/13! (truncation ≤ 0.3466¹⁴/14! < 5·10⁻¹⁸ relative, 0.05 ulp), evaluated by
// Horner; then the product with 2^k as two powers of two 2^⌊k/2⌋·2^(k−⌊k/2⌋), each a normal
// number, so results that overflow give ∞ and results in the subnormal range are rounded once.
// x is first clamped to [−746, 710] (beyond which e^x rounds to 0 or ∞), NaN passes through.
// sigmoid(x) = 1/(1 + e) for x > 0 and e/(1 + e) otherwise, with e = exp(−|x|), as in
// compiler/math.ts. tanh(x): for |x| < 0.55, x + x³·Q(x²) with Q the Taylor series of
// (tanh x − x)/x³ through x³⁴ (truncation < 5·10⁻¹⁸ relative; the coefficients are
// 2²ⁿ(2²ⁿ − 1)·B₂ₙ/(2n)!, rounded to the nearest double); otherwise sign(x)·(1 − 2/(e^{2|x|} + 1)),
// where 1 − 2/(…) ≥ 0.5 loses no digits. Measured against Math.exp and Math.tanh and the
// reference sigmoid over 10⁶ points: spec/codegen/wasm/elementwise.test.ts.

/** ln 2 in two parts: 0x3fe62e42fee00000 (32 significant bits) and the rest. */
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const INV_LN2 = Math.LOG2E;
/** 1/i! for i = 0..13. */
const EXP_TAYLOR = Array.from({ length: 14 }, (_, i) => {
  let factorial = 1;
  for (let j = 2; j <= i; j++) factorial *= j;
  return 1 / factorial;
});
/** Taylor coefficients of tanh x at x³, x⁵, …, x³⁷ (those of x^(2n−1): 2²ⁿ(2²ⁿ − 1)·B₂ₙ/(2n)!). */
const TANH_TAYLOR = [
  -0.3333333333333333, 0.13333333333333333, -0.05396825396825397, 0.021869488536155203, -0.008863235529902197,
  0.003592128036572481, -0.0014558343870513183, 0.000590027440945586, -0.00023912911424355248, 9.691537956929451e-5,
  -3.927832388331683e-5, 1.5918905069328964e-5, -6.451689215655431e-6, 2.6147711512907546e-6, -1.0597268320104654e-6,
  4.294911078273806e-7, -1.7406618963571648e-7, 7.054636946400968e-8,
];
const TANH_SMALL = 0.55;

/** Pushes Σ coefficients[i]·z^i by Horner's rule (z pushed by the callback). */
function horner(e: Emitter, z: Push, coefficients: readonly number[]): void {
  const last = coefficients.length - 1;
  e.constant(coefficients[last] ?? 0);
  for (let i = last - 1; i >= 0; i--) {
    z();
    e.op("mul");
    e.constant(coefficients[i] ?? 0);
    e.op("add");
  }
}

/** Pushes e^x for the f64x2 pushed by x (vector mode). */
function expVector(e: Emitter, x: Push): void {
  const f = e.f;
  const clamped = e.keep(() => {
    x();
    e.constant(-746);
    f.op("f64x2.max");
    e.constant(710);
    f.op("f64x2.min");
  });
  const k = e.keep(() => {
    clamped();
    e.constant(INV_LN2);
    e.op("mul");
    f.op("f64x2.nearest");
  });
  const r = e.keep(() => {
    clamped();
    k();
    e.constant(LN2_HI);
    e.op("mul");
    e.op("sub");
    k();
    e.constant(LN2_LO);
    e.op("mul");
    e.op("sub");
  });
  const p = e.keep(() => horner(e, r, EXP_TAYLOR));
  const whole = e.keep(() => {
    k();
    f.op("i32x4.trunc_sat_f64x2_s_zero");
  });
  const half = e.keep(() => {
    whole();
    f.i32(1).op("i32x4.shr_s");
  });
  /** 2^m for the i32 lanes 0 and 1 pushed by m (normal exponents only). */
  const power = (m: Push) => {
    m();
    f.i32(1023).op("i32x4.splat", "i32x4.add", "i64x2.extend_low_i32x4_s");
    f.i32(52).op("i64x2.shl");
  };
  p();
  power(half);
  e.op("mul");
  power(() => {
    whole();
    half();
    f.op("i32x4.sub");
  });
  e.op("mul");
}

/** A float64 form computed on v128 values: a scalar goes through lane 0 of a splat. */
const throughVector =
  (vectorForm: (e: Emitter, x: Push) => void): WasmForm =>
  (e, args) => {
    const x = argument(args, 0);
    if (e.mode === "vector") {
      vectorForm(e, x);
      return;
    }
    const v = e.vector();
    const lanes = v.keep(() => {
      x();
      e.f.op("f64x2.splat");
    });
    vectorForm(v, lanes);
    e.f.lane("f64x2.extract_lane", 0);
  };

/** Float64 forms of transcendental functions (see above); float32 steps with them stay in JavaScript. */
const F64_FORMS: Partial<Record<OpName, WasmForm>> = {
  exp: throughVector(expVector),
  sigmoid: throughVector((e, x) => {
    const value = e.keep(x);
    const small = e.keep(() =>
      expVector(e, () => {
        value();
        e.op("abs");
        e.op("neg");
      }),
    );
    const denominator = e.keep(() => {
      e.constant(1);
      small();
      e.op("add");
    });
    e.choose(
      e.positive(value),
      () => {
        e.constant(1);
        denominator();
        e.op("div");
      },
      () => {
        small();
        denominator();
        e.op("div");
      },
    );
  }),
  tanh: throughVector((e, x) => {
    const value = e.keep(x);
    const magnitude = e.keep(() => {
      value();
      e.op("abs");
    });
    const square = e.keep(() => {
      value();
      value();
      e.op("mul");
    });
    const large = e.keep(() => {
      e.constant(1);
      e.constant(2);
      expVector(e, () => {
        magnitude();
        magnitude();
        e.op("add");
      });
      e.constant(1);
      e.op("add");
      e.op("div");
      e.op("sub");
    });
    e.choose(
      () => {
        magnitude();
        e.constant(TANH_SMALL);
        e.op("lt");
      },
      () => {
        value();
        value();
        square();
        e.op("mul");
        horner(e, square, TANH_TAYLOR);
        e.op("mul");
        e.op("add");
      },
      () =>
        e.choose(
          () => {
            value();
            e.constant(0);
            e.op("lt");
          },
          () => {
            large();
            e.op("neg");
          },
          large,
        ),
    );
  }),
};

/** An op's form for a dtype, if it has one. */
function formOf(op: OpName, dtype: Dtype): WasmForm | undefined {
  return FORMS[op] ?? (dtype === "f64" ? F64_FORMS[op] : undefined);
}

/** The ops with a WebAssembly form in a dtype (for tests). */
export function wasmOps(dtype: Dtype): OpName[] {
  return [...Object.keys(FORMS), ...(dtype === "f64" ? Object.keys(F64_FORMS) : [])] as OpName[];
}

/** Element offset of an array's first element in the memory. */
export type MemoryBase = (array: string) => number;

/** Builds one step's function body (see the file comment for the parameters). */
function emitStep(f: FunctionBuilder, dtype: Dtype, wasm: WasmStep, base: MemoryBase): void {
  const { step, locals } = wasm;
  const element = ELEMENT[dtype];
  const [from, to, n] = f.parameters(RANGE_PARAMETERS);
  const scalars = new Map(locals.map((name, i) => [name, f.params[RANGE_PARAMETERS + i] as Local]));
  const j = f.local("i32");
  const ib = f.local("i32");
  const end = f.local("i32");
  const vectorEnd = f.local("i32");

  // j · batchStride in bytes, one local per distinct stride, set at the top of each example.
  const rowOffsets = new Map<number, Local>();
  const regions: Region[] = [];
  const collect = (value: Scalar): void => {
    if (value.kind === "load") regions.push(value.region);
    if (value.kind === "apply") for (const arg of value.args) collect(arg);
  };
  collect(step.kind === "map" ? step.value : step.term);
  if (step.dest.kind === "region") regions.push(step.dest.region);
  for (const region of regions)
    if (region.batchStride !== 0 && !rowOffsets.has(region.batchStride))
      rowOffsets.set(region.batchStride, f.local("i32"));
  const setRowOffsets = () => {
    for (const [stride, local] of rowOffsets)
      f.get(j)
        .i32(stride * element.bytes)
        .op("i32.mul")
        .set(local);
  };

  /** Pushes the address of entry ib (or the region's one entry) of the current example. */
  const address = (region: Region, perEntry: boolean) => {
    const row = rowOffsets.get(region.batchStride);
    if (row && perEntry) f.get(row).get(ib).op("i32.add");
    else if (row) f.get(row);
    else if (perEntry) f.get(ib);
    else f.i32(0);
  };
  const staticOffset = (region: Region) => (base(region.array) + region.offset) * element.bytes;
  const perEntry = (region: Region, index: Index) => region.size > 1 && index.kind === "entry";

  const push = (e: Emitter, value: Scalar): void => {
    switch (value.kind) {
      case "const":
        e.constant(value.value);
        return;
      case "local": {
        const local = scalars.get(value.name);
        if (!local) throw new Error(`internal: shared scalar ${value.name} is not a parameter`);
        f.get(local);
        if (e.mode === "vector") f.op(element.splat);
        return;
      }
      case "load": {
        const entrywise = perEntry(value.region, value.index);
        address(value.region, entrywise);
        const offset = staticOffset(value.region);
        if (e.mode === "scalar") f.memory(element.load, offset);
        else f.memory(entrywise ? "v128.load" : element.loadSplat, offset);
        return;
      }
      case "apply": {
        const form = formOf(value.op, dtype);
        if (!form) throw new Error(`internal: ${value.op} has no WebAssembly form in ${dtype}`);
        form(
          e,
          value.args.map((arg) => () => push(e, arg)),
          value.attrs,
        );
        return;
      }
    }
  };
  const vector = new Emitter(f, dtype, "vector");
  const scalar = new Emitter(f, dtype, "scalar");

  /** for ib over entries [start, stop): `body(vector)` per v128, then `body(scalar)` per remaining entry. */
  const entries = (start: Push, stop: Push, body: (e: Emitter) => void) => {
    start();
    f.i32(element.shift).op("i32.shl").set(ib);
    stop();
    f.i32(element.shift).op("i32.shl").tee(end);
    f.i32((element.lanes - 1) * element.bytes)
      .op("i32.sub")
      .set(vectorEnd);
    f.block((done) => {
      f.loop((again) => {
        f.get(ib).get(vectorEnd).op("i32.ge_s").brIf(done);
        body(vector);
        f.get(ib)
          .i32(element.lanes * element.bytes)
          .op("i32.add")
          .set(ib);
        f.br(again);
      });
    });
    f.block((done) => {
      f.loop((again) => {
        f.get(ib).get(end).op("i32.ge_s").brIf(done);
        body(scalar);
        f.get(ib).i32(element.bytes).op("i32.add").set(ib);
        f.br(again);
      });
    });
  };
  /** for j over [start, stop): body(), with the row offsets set. */
  const examples = (start: Push, stop: Push, body: () => void) => {
    start();
    f.set(j);
    f.block((done) => {
      f.loop((again) => {
        f.get(j);
        stop();
        f.op("i32.ge_s").brIf(done);
        setRowOffsets();
        body();
        f.get(j).i32(1).op("i32.add").set(j);
        f.br(again);
      });
    });
  };
  const constant = (value: number) => () => f.i32(value);
  const dest = step.dest.kind === "region" ? step.dest.region : undefined;
  if (!dest) throw new Error("internal: an elementwise WebAssembly step writes a shared scalar");
  const destOffset = staticOffset(dest);
  const writeEntries = (e: Emitter, value: () => void) => {
    address(dest, dest.size > 1);
    value();
    f.memory(e.mode === "vector" ? "v128.store" : element.store, destOffset);
  };

  switch (step.kind) {
    case "map": {
      const body = () =>
        entries(
          wasm.range === "rows" ? constant(0) : () => f.get(from),
          wasm.range === "rows" ? constant(step.size) : () => f.get(to),
          (e) => writeEntries(e, () => push(e, step.value)),
        );
      if (wasm.range === "rows")
        examples(
          () => f.get(from),
          () => f.get(to),
          body,
        );
      else body();
      return;
    }
    case "reduce": {
      const acc = f.local("v128");
      const tail = f.local(dtype);
      examples(
        () => f.get(from),
        () => f.get(to),
        () => {
          f.v128Zero().set(acc);
          scalar.constant(0);
          f.set(tail);
          entries(constant(0), constant(step.count), (e) => {
            if (e.mode === "vector") {
              f.get(acc);
              push(e, step.term);
              e.op("add");
              f.set(acc);
            } else {
              f.get(tail);
              push(e, step.term);
              e.op("add");
              f.set(tail);
            }
          });
          address(dest, false);
          for (let lane = 0; lane < element.lanes; lane++) {
            f.get(acc).lane(element.extract, lane);
            if (lane > 0) scalar.op("add");
          }
          f.get(tail);
          scalar.op("add");
          f.memory(element.store, destOffset);
        },
      );
      return;
    }
    case "batchSum": {
      if (dest.batchStride !== 0) throw new Error("internal: a batch sum into a per-example region");
      const range = [() => f.get(from), () => f.get(to)] as const;
      entries(...range, (e) => writeEntries(e, () => e.constant(0)));
      examples(
        constant(0),
        () => f.get(n),
        () =>
          entries(...range, (e) =>
            writeEntries(e, () => {
              address(dest, dest.size > 1);
              f.memory(e.mode === "vector" ? "v128.load" : element.load, destOffset);
              push(e, step.term);
              e.op("add");
            }),
          ),
      );
      return;
    }
  }
}

/**
 * The module of a generated kernel module: the GEMM (exported as "gemm", see gemm.ts) and one
 * function per step, exported as "e0", "e1", … in order; it imports the shared memory.
 */
export function buildKernelModule(dtype: Dtype, steps: readonly WasmStep[], base: MemoryBase): Uint8Array {
  const module = new ModuleBuilder().importMemory("env", "memory", {
    minimumPages: 1,
    maximumPages: 65536,
    shared: true,
  });
  addGemm(module, GEMM_SHAPES[dtype], "gemm");
  steps.forEach((step, k) => {
    const params: ValType[] = ["i32", "i32", "i32", ...step.locals.map((): ValType => dtype)];
    emitStep(module.function(params, [], `e${k}`).body, dtype, step, base);
  });
  return module.encode();
}
