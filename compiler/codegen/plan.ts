/**
 * The kernel plan: what one kernel computes, as data with numeric sizes, offsets and strides.
 * Lowering (kernel.ts) decides fusion, buffers and matrix products once; the printers
 * (printer.ts: JavaScript loops, or calls into the WebAssembly GEMM) only spell it out, so no
 * printer re-derives math or addressing. The batch size n is the only size not known at
 * compile time: it appears in the extents "n" and n·k.
 */
import type { Attrs, OpName } from "../ir/node.ts";

/**
 * A region of a named array (a kernel argument such as `w` or `grad`, or a buffer of the
 * module such as `ws`): element i of example j is at `array[offset + j·batchStride + i]`;
 * batchStride is 0 for a value shared by all examples.
 */
export interface Region {
  readonly array: string;
  readonly offset: number;
  readonly batchStride: number;
  /** Entries per example (the node's size). */
  readonly size: number;
}

/** A strided matrix: element (r, c) of example j is at offset + j·batchStride + r·rowStride + c·colStride. */
export interface MatrixView {
  readonly array: string;
  readonly offset: number;
  readonly rowStride: number;
  readonly colStride: number;
  readonly batchStride: number;
}

/** Which entry of a value a fused expression reads, relative to the loop's entry index i. */
export type Index =
  | { readonly kind: "entry" }
  | { readonly kind: "first" }
  /** Row of entry `of` in a matrix with `cols` columns: ⌊of / cols⌋ (the left factor of an outer product). */
  | { readonly kind: "row"; readonly of: Index; readonly cols: number }
  /** Column of entry `of`: of mod cols (the right factor of an outer product). */
  | { readonly kind: "column"; readonly of: Index; readonly cols: number }
  /** Entry `of` of the transpose of a rows×cols matrix, read from the matrix itself. */
  | { readonly kind: "transposed"; readonly of: Index; readonly rows: number; readonly cols: number };

/** A scalar expression evaluated per entry (and per example) of a loop. */
export type Scalar =
  | { readonly kind: "const"; readonly value: number }
  /** A shared scalar computed earlier in the kernel. */
  | { readonly kind: "local"; readonly name: string }
  | { readonly kind: "load"; readonly region: Region; readonly index: Index }
  | { readonly kind: "apply"; readonly op: OpName; readonly attrs: Attrs; readonly args: readonly Scalar[] };

/** Where a loop's result goes: a region, or a shared scalar local. */
export type Destination =
  | { readonly kind: "region"; readonly region: Region }
  | { readonly kind: "local"; readonly name: string };

/** A product's size: a literal, the run-time batch size n, or n times a literal (the rows of every example stacked). */
export type Extent = number | "n" | { readonly perExample: number };

export type Step =
  /** A source comment (which model line the following steps come from). */
  | { readonly kind: "comment"; readonly text: string }
  /** dest[i, j] = value(i, j) for every entry i < size (and example j < n when batched). */
  | {
      readonly kind: "map";
      readonly dest: Destination;
      readonly size: number;
      readonly batched: boolean;
      readonly value: Scalar;
    }
  /** dest[j] = Σ_{i < count} term(i, j) (per example when batched). */
  | {
      readonly kind: "reduce";
      readonly dest: Destination;
      readonly count: number;
      readonly batched: boolean;
      readonly term: Scalar;
    }
  /** dest[i] = Σ_{j < n} term(i, j) for every entry i < size. */
  | { readonly kind: "batchSum"; readonly dest: Destination; readonly size: number; readonly term: Scalar }
  /**
   * C (=, or +=) scale · A · B with A rows×depth, B depth×cols; once, or once per example
   * (perExample: every view advances by its batchStride).
   */
  | {
      readonly kind: "gemm";
      readonly rows: Extent;
      readonly cols: number;
      readonly depth: Extent;
      readonly a: MatrixView;
      readonly b: MatrixView;
      readonly c: MatrixView;
      readonly accumulate: boolean;
      readonly scale: number;
      readonly perExample: boolean;
    }
  /**
   * The squared loss of predictions against targets `y` over n examples of `size` outputs:
   * `loss` = Σ r², `residual` = r·scale with scale = 1/n for a mean loss (else 1), r = prediction − y.
   */
  | { readonly kind: "squaredLoss"; readonly predictions: string; readonly residual: string; readonly size: number }
  /** dest[i] = src[table[i]], or 0 where table[i] < 0, for every entry i < dest.size (per example when batched). */
  | {
      readonly kind: "gather";
      readonly dest: Region;
      readonly src: Region;
      readonly table: TableRef;
      readonly batched: boolean;
    }
  /**
   * Over groups of src's entries (`groups`: count + 1 offsets into itself, then the members of each
   * group in ascending order): dest[k] = Σ (sum) or max (max) of group k; or (argmask) dest is 1 at
   * the first largest entry of each group and 0 elsewhere.
   */
  | {
      readonly kind: "group";
      readonly reduce: "sum" | "max" | "argmask";
      readonly dest: Region;
      readonly src: Region;
      readonly groups: TableRef;
      readonly count: number;
      readonly batched: boolean;
    };

/** A constant Int32Array of the module (an index table, or its groups), by name. */
export interface TableRef {
  readonly name: string;
  readonly data: Int32Array;
}

/** One kernel's steps, in order. */
export interface KernelPlan {
  readonly steps: readonly Step[];
}

/**
 * The arrays that a plan's matrix products across the batch read or write (a fast backend
 * must place them where its GEMM reaches; per-example products stay loops).
 */
export function gemmArrays(plan: KernelPlan): Set<string> {
  const arrays = new Set<string>();
  for (const step of plan.steps) {
    if (step.kind !== "gemm" || step.perExample) continue;
    arrays.add(step.a.array);
    arrays.add(step.b.array);
    arrays.add(step.c.array);
  }
  return arrays;
}

/** The arrays a step reads or writes. */
export function stepArrays(step: Step): Set<string> {
  const arrays = new Set<string>();
  const ofScalar = (value: Scalar): void => {
    if (value.kind === "load") arrays.add(value.region.array);
    if (value.kind === "apply") for (const arg of value.args) ofScalar(arg);
  };
  switch (step.kind) {
    case "comment":
      break;
    case "map":
      ofScalar(step.value);
      break;
    case "reduce":
    case "batchSum":
      ofScalar(step.term);
      break;
    case "gemm":
      for (const view of [step.a, step.b, step.c]) arrays.add(view.array);
      break;
    case "squaredLoss":
      arrays.add(step.predictions).add(step.residual);
      break;
    case "gather":
    case "group":
      arrays.add(step.src.array).add(step.dest.array);
      break;
  }
  if ((step.kind === "map" || step.kind === "reduce" || step.kind === "batchSum") && step.dest.kind === "region")
    arrays.add(step.dest.region.array);
  return arrays;
}

/** The plan with arrays renamed (names not in `names` stay). */
export function renameArrays(plan: KernelPlan, names: ReadonlyMap<string, string>): KernelPlan {
  const name = (array: string) => names.get(array) ?? array;
  const inRegion = (r: Region): Region => ({ ...r, array: name(r.array) });
  const inView = (v: MatrixView): MatrixView => ({ ...v, array: name(v.array) });
  const inDestination = (d: Destination): Destination =>
    d.kind === "region" ? { kind: "region", region: inRegion(d.region) } : d;
  const inScalar = (value: Scalar): Scalar => {
    switch (value.kind) {
      case "const":
      case "local":
        return value;
      case "load":
        return { ...value, region: inRegion(value.region) };
      case "apply":
        return { ...value, args: value.args.map(inScalar) };
    }
  };
  const inStep = (step: Step): Step => {
    switch (step.kind) {
      case "comment":
        return step;
      case "map":
        return { ...step, dest: inDestination(step.dest), value: inScalar(step.value) };
      case "reduce":
      case "batchSum":
        return { ...step, dest: inDestination(step.dest), term: inScalar(step.term) };
      case "gemm":
        return { ...step, a: inView(step.a), b: inView(step.b), c: inView(step.c) };
      case "squaredLoss":
        return { ...step, predictions: name(step.predictions), residual: name(step.residual) };
      case "gather":
      case "group":
        return { ...step, src: inRegion(step.src), dest: inRegion(step.dest) };
    }
  };
  return { steps: plan.steps.map(inStep) };
}

/** The constant tables a plan's steps read, by name. */
export function planTables(plan: KernelPlan): Map<string, Int32Array> {
  const tables = new Map<string, Int32Array>();
  for (const step of plan.steps) {
    if (step.kind === "gather") tables.set(step.table.name, step.table.data);
    if (step.kind === "group") tables.set(step.groups.name, step.groups.data);
  }
  return tables;
}
