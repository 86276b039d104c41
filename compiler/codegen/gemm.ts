/**
 * Emission of matrix products with register blocking: C(r, c) = Σ_k A(r, k) · B(k, c), each
 * operand a strided view of a Float64Array. A 2×4 block of C lives in eight local
 * accumulators across the whole k loop, so each step loads 2 + 4 values for 8 multiply-adds
 * and C is touched once. Sizes and strides are baked in as literals where known.
 */

/** A strided matrix view: element (i, k) is at array[offset + i·rowStride + k·colStride]. */
export interface View {
  readonly array: string;
  readonly offset: string;
  readonly rowStride: string;
  readonly colStride: string;
}

export interface Gemm {
  readonly rows: string;
  readonly cols: string;
  readonly depth: string;
  readonly a: View;
  readonly b: View;
  readonly c: View;
  /** `=` overwrites C; `+=` accumulates into it. */
  readonly assign: "=" | "+=";
  /** A constant factor applied to every product, e.g. "0.5", or undefined. */
  readonly scale?: string;
}

/** `base + i·stride` with the trivial cases folded, for readable generated code. */
export function index(view: View, row: string, col: string): string {
  const parts = [view.offset, term(row, view.rowStride), term(col, view.colStride)].filter((p) => p !== "0");
  return `${view.array}[${parts.length === 0 ? "0" : parts.join(" + ")}]`;
}

function term(i: string, stride: string): string {
  if (i === "0" || stride === "0") return "0";
  if (stride === "1") return i;
  if (i === "1") return stride;
  return `${i} * ${stride}`;
}

let counter = 0;

/** The statements computing one matrix product. */
export function emitGemm(spec: Gemm): string {
  const id = counter++;
  const r = `r${id}`;
  const c = `c${id}`;
  const k = `k${id}`;
  const scaled = (acc: string) => (spec.scale === undefined ? acc : `${spec.scale} * ${acc}`);
  const store = (row: string, col: string, acc: string) => `${index(spec.c, row, col)} ${spec.assign} ${scaled(acc)};`;
  const rowOf = (offset: number) => (offset === 0 ? r : `(${r} + ${offset})`);
  const colOf = (offset: number) => (offset === 0 ? c : `(${c} + ${offset})`);
  const block = (rowCount: number, colCount: number): string => {
    const accs: string[] = [];
    const body: string[] = [];
    for (let i = 0; i < rowCount; i++) body.push(`const a${i} = ${index(spec.a, rowOf(i), k)};`);
    for (let j = 0; j < colCount; j++) body.push(`const b${j} = ${index(spec.b, k, colOf(j))};`);
    for (let i = 0; i < rowCount; i++) {
      for (let j = 0; j < colCount; j++) {
        accs.push(`s${i}${j}`);
        body.push(`s${i}${j} += a${i} * b${j};`);
      }
    }
    const stores: string[] = [];
    for (let i = 0; i < rowCount; i++)
      for (let j = 0; j < colCount; j++) stores.push(store(rowOf(i), colOf(j), `s${i}${j}`));
    return [
      `let ${accs.map((a) => `${a} = 0`).join(", ")};`,
      `for (let ${k} = 0; ${k} < ${spec.depth}; ${k}++) {`,
      ...body.map((l) => `  ${l}`),
      `}`,
      ...stores,
    ].join("\n");
  };
  const indent = (text: string, depth: number) => text.replace(/^/gm, "  ".repeat(depth));
  return [
    `// C[${spec.rows}×${spec.cols}] ${spec.assign} A[${spec.rows}×${spec.depth}] · B[${spec.depth}×${spec.cols}]`,
    `let ${r} = 0;`,
    `for (; ${r} + 1 < ${spec.rows}; ${r} += 2) {`,
    `  let ${c} = 0;`,
    `  for (; ${c} + 3 < ${spec.cols}; ${c} += 4) {`,
    indent(block(2, 4), 2),
    `  }`,
    `  for (; ${c} < ${spec.cols}; ${c}++) {`,
    indent(block(2, 1), 2),
    `  }`,
    `}`,
    `if (${r} < ${spec.rows}) {`,
    `  let ${c} = 0;`,
    `  for (; ${c} + 3 < ${spec.cols}; ${c} += 4) {`,
    indent(block(1, 4), 2),
    `  }`,
    `  for (; ${c} < ${spec.cols}; ${c}++) {`,
    indent(block(1, 1), 2),
    `  }`,
    `}`,
  ].join("\n");
}

/** Restarts the naming of loop variables (each module starts at 0, so output is stable). */
export function resetGemmNames(): void {
  counter = 0;
}
