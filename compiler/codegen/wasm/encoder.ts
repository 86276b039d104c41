/**
 * A small WebAssembly binary encoder: enough of the format (LEB128, the type, import, function,
 * export and code sections, one imported shared memory) and of the instruction set (scalar
 * i32/f32/f64 arithmetic, structured control, locals, and the handful of SIMD128 instructions
 * the matrix-product micro-kernels use) to write the fast backend's modules.
 *
 * Why our own and not binaryen or wabt: those are multi-megabyte packages (C++ toolchains
 * compiled to JavaScript/WebAssembly) built for whole compilers, with their own optimizer
 * passes whose output may change between versions. We need about 90 opcodes, no text parser and
 * no optimizer: the kernels are written instruction by instruction here on purpose. An encoder
 * of a few hundred lines has no dependency, and the bytes it writes are a pure function of the
 * builder calls, so the bytes embedded in generated modules are deterministic and the compile
 * cache key stays meaningful. Correctness is checked by `WebAssembly.validate` and by running
 * the encoded modules in spec/codegen/wasm/.
 *
 * Reference: the WebAssembly core specification, binary format (chapter 5), and the SIMD
 * proposal's opcode table (now part of the core specification, 2.0).
 */

import { defined } from "../../../foundation/defined.ts";

/** The value types we use; the byte is the type's binary code. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128";

const VALTYPE_CODE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128 of a non-negative integer below 2^32 (sizes, indices, offsets). */
export function unsignedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`unsigned LEB128 needs an integer in [0, 2^32), not ${value}`);
  }
  const out: number[] = [];
  let rest = value;
  do {
    // Division, not `>>>`, so that values ≥ 2^31 stay exact.
    const low = rest % 128;
    rest = Math.floor(rest / 128);
    out.push(rest === 0 ? low : low | 0x80);
  } while (rest !== 0);
  return out;
}

/** Signed LEB128 of an integer in [-2^31, 2^32) (i32 constants; values ≥ 2^31 wrap, as in i32). */
export function signedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    throw new RangeError(`signed LEB128 (i32) needs an integer in [-2^31, 2^32), not ${value}`);
  }
  const out: number[] = [];
  let rest = value | 0; // the i32 bit pattern, as a signed number
  for (;;) {
    const low = rest & 0x7f;
    rest >>= 7; // arithmetic shift: the sign propagates
    const signBitClear = (low & 0x40) === 0;
    if ((rest === 0 && signBitClear) || (rest === -1 && !signBitClear)) {
      out.push(low);
      return out;
    }
    out.push(low | 0x80);
  }
}

function utf8Name(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [...unsignedLeb128(bytes.length), ...bytes];
}

/** A vector in the binary format: its length, then its items. */
function vector(items: readonly number[][]): number[] {
  return [...unsignedLeb128(items.length), ...items.flat()];
}

function section(id: number, content: number[]): number[] {
  return [id, ...unsignedLeb128(content.length), ...content];
}

// ---------------------------------------------------------------------------------------------
// Instructions

/**
 * Instructions without immediates, keyed by their text-format names so that builder calls read
 * like the text format. SIMD entries are `[0xfd, simdop]`: the SIMD opcode is itself LEB128
 * (so ops ≥ 0x80, e.g. f64x2.add = 0xf0, take two bytes).
 */
const PLAIN = {
  unreachable: [0x00],
  nop: [0x01],
  return: [0x0f],
  drop: [0x1a],
  select: [0x1b],
  "i32.eqz": [0x45],
  "i32.eq": [0x46],
  "i32.ne": [0x47],
  "i32.lt_s": [0x48],
  "i32.lt_u": [0x49],
  "i32.gt_s": [0x4a],
  "i32.gt_u": [0x4b],
  "i32.le_s": [0x4c],
  "i32.le_u": [0x4d],
  "i32.ge_s": [0x4e],
  "i32.ge_u": [0x4f],
  "f32.eq": [0x5b],
  "f32.lt": [0x5d],
  "f32.gt": [0x5e],
  "f64.eq": [0x61],
  "f64.lt": [0x63],
  "f64.gt": [0x64],
  "i32.add": [0x6a],
  "i32.sub": [0x6b],
  "i32.mul": [0x6c],
  "i32.div_s": [0x6d],
  "i32.div_u": [0x6e],
  "i32.rem_s": [0x6f],
  "i32.rem_u": [0x70],
  "i32.and": [0x71],
  "i32.or": [0x72],
  "i32.xor": [0x73],
  "i32.shl": [0x74],
  "i32.shr_s": [0x75],
  "i32.shr_u": [0x76],
  "f32.abs": [0x8b],
  "f32.neg": [0x8c],
  "f32.sqrt": [0x91],
  "f32.add": [0x92],
  "f32.sub": [0x93],
  "f32.mul": [0x94],
  "f32.div": [0x95],
  "f32.min": [0x96],
  "f32.max": [0x97],
  "f64.abs": [0x99],
  "f64.neg": [0x9a],
  "f64.sqrt": [0x9f],
  "f64.add": [0xa0],
  "f64.sub": [0xa1],
  "f64.mul": [0xa2],
  "f64.div": [0xa3],
  "f64.min": [0xa4],
  "f64.max": [0xa5],
  "f32.demote_f64": [0xb6],
  "f64.promote_f32": [0xbb],
  "f32x4.splat": [0xfd, 0x13],
  "i32x4.splat": [0xfd, 0x11],
  "f64x2.splat": [0xfd, 0x14],
  "f32x4.lt": [0xfd, 0x43],
  "f32x4.gt": [0xfd, 0x44],
  "f64x2.lt": [0xfd, 0x49],
  "f64x2.gt": [0xfd, 0x4a],
  "v128.and": [0xfd, 0x4e],
  "v128.bitselect": [0xfd, 0x52],
  "f64x2.nearest": [0xfd, 0x94],
  "i32x4.shr_s": [0xfd, 0xac],
  "i32x4.add": [0xfd, 0xae],
  "i32x4.sub": [0xfd, 0xb1],
  "i64x2.extend_low_i32x4_s": [0xfd, 0xc7],
  "i64x2.shl": [0xfd, 0xcb],
  "f32x4.abs": [0xfd, 0xe0],
  "f32x4.neg": [0xfd, 0xe1],
  "f32x4.sqrt": [0xfd, 0xe3],
  "f32x4.add": [0xfd, 0xe4],
  "f32x4.sub": [0xfd, 0xe5],
  "f32x4.mul": [0xfd, 0xe6],
  "f32x4.div": [0xfd, 0xe7],
  "f64x2.abs": [0xfd, 0xec],
  "f64x2.neg": [0xfd, 0xed],
  "f64x2.sqrt": [0xfd, 0xef],
  "f64x2.add": [0xfd, 0xf0],
  "f64x2.sub": [0xfd, 0xf1],
  "f64x2.mul": [0xfd, 0xf2],
  "f64x2.div": [0xfd, 0xf3],
  "f64x2.min": [0xfd, 0xf4],
  "f64x2.max": [0xfd, 0xf5],
  "i32x4.trunc_sat_f64x2_s_zero": [0xfd, 0xfc],
} as const satisfies Record<string, readonly number[]>;

/** An instruction without immediates. */
export type PlainOp = keyof typeof PLAIN;

/** Memory instructions (immediate: a memarg); the natural alignment is log2 of the access size. */
const MEMORY = {
  "i32.load": { code: [0x28], align: 2 },
  "f32.load": { code: [0x2a], align: 2 },
  "f64.load": { code: [0x2b], align: 3 },
  "i32.store": { code: [0x36], align: 2 },
  "f32.store": { code: [0x38], align: 2 },
  "f64.store": { code: [0x39], align: 3 },
  "v128.load": { code: [0xfd, 0x00], align: 4 },
  "v128.load32_splat": { code: [0xfd, 0x09], align: 2 },
  "v128.load64_splat": { code: [0xfd, 0x0a], align: 3 },
  "v128.store": { code: [0xfd, 0x0b], align: 4 },
  "v128.load32_zero": { code: [0xfd, 0x5c], align: 2 },
  "v128.load64_zero": { code: [0xfd, 0x5d], align: 3 },
} as const satisfies Record<string, { code: readonly number[]; align: number }>;

/** A load or store. */
export type MemoryOp = keyof typeof MEMORY;

/** Lane instructions (immediate: one lane-index byte). */
const LANE = {
  "f32x4.extract_lane": { code: [0xfd, 0x1f], lanes: 4 },
  "f32x4.replace_lane": { code: [0xfd, 0x20], lanes: 4 },
  "f64x2.extract_lane": { code: [0xfd, 0x21], lanes: 2 },
  "f64x2.replace_lane": { code: [0xfd, 0x22], lanes: 2 },
} as const satisfies Record<string, { code: readonly number[]; lanes: number }>;

/** An instruction that reads or writes one lane of a v128. */
export type LaneOp = keyof typeof LANE;

/** Encodes an opcode list whose second byte, after a 0xfd prefix, is a LEB128 SIMD opcode. */
function opcodeBytes(code: readonly number[]): number[] {
  const [prefix, simd] = code;
  return prefix === 0xfd ? [0xfd, ...unsignedLeb128(defined(simd, "a SIMD opcode"))] : [...code];
}

/** `N` locals as a tuple type. */
export type LocalTuple<N extends number, R extends Local[] = []> = R["length"] extends N
  ? R
  : LocalTuple<N, [...R, Local]>;

/** A local variable (parameters are locals 0..params-1). */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/** A branch target: the label of an enclosing block, loop or if. */
export interface Label {
  readonly depth: number;
}

/**
 * The body of one function, built instruction by instruction. Control structures take a
 * callback receiving their label, and `br`/`br_if` take labels, not raw depths: the relative
 * depth is computed from the builder's stack, so a wrong nesting cannot produce a valid-looking
 * branch to the wrong place.
 */
export class FunctionBuilder {
  readonly params: readonly Local[];

  /** The first `count` parameters as a tuple (a function with fewer is an internal error). */
  parameters<N extends number>(count: N): LocalTuple<N> {
    if (this.params.length < count)
      throw new Error(`internal: ${count} parameters asked of a function with ${this.params.length}`);
    return this.params.slice(0, count) as LocalTuple<N>;
  }
  private readonly locals: Local[] = [];
  private readonly code: number[] = [];
  private depth = 0;

  constructor(
    paramTypes: readonly ValType[],
    readonly results: readonly ValType[],
  ) {
    this.params = paramTypes.map((type, index) => ({ index, type }));
  }

  /** Declares a new local of `type`, initialized to zero by the engine. */
  local(type: ValType): Local {
    const local = { index: this.params.length + this.locals.length, type };
    this.locals.push(local);
    return local;
  }

  /** Appends instructions without immediates, in order. */
  op(...names: PlainOp[]): this {
    for (const name of names) this.code.push(...opcodeBytes(PLAIN[name]));
    return this;
  }

  /** A load or store at `address + offset` (offset in bytes; the address is on the stack). */
  memory(name: MemoryOp, offset = 0): this {
    const { code, align } = MEMORY[name];
    this.code.push(...opcodeBytes(code), ...unsignedLeb128(align), ...unsignedLeb128(offset));
    return this;
  }

  /** Extracts or replaces one lane. */
  lane(name: LaneOp, lane: number): this {
    const { code, lanes } = LANE[name];
    if (!Number.isInteger(lane) || lane < 0 || lane >= lanes) throw new RangeError(`${name}: no lane ${lane}`);
    this.code.push(...opcodeBytes(code), lane);
    return this;
  }

  /** `local.get`. */
  get(local: Local): this {
    this.code.push(0x20, ...unsignedLeb128(local.index));
    return this;
  }

  /** `local.set`. */
  set(local: Local): this {
    this.code.push(0x21, ...unsignedLeb128(local.index));
    return this;
  }

  /** `local.tee`. */
  tee(local: Local): this {
    this.code.push(0x22, ...unsignedLeb128(local.index));
    return this;
  }

  /** `i32.const`. */
  i32(value: number): this {
    this.code.push(0x41, ...signedLeb128(value));
    return this;
  }

  /** `f32.const` (the value rounded to float32). */
  f32(value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.code.push(0x43, ...bytes);
    return this;
  }

  /** `f64.const`. */
  f64(value: number): this {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    this.code.push(0x44, ...bytes);
    return this;
  }

  /** `v128.const` of sixteen zero bytes (the accumulators' start). */
  v128Zero(): this {
    this.code.push(0xfd, ...unsignedLeb128(0x0c), ...new Array<number>(16).fill(0));
    return this;
  }

  /** `call` of a function by index. */
  call(functionIndex: number): this {
    this.code.push(0x10, ...unsignedLeb128(functionIndex));
    return this;
  }

  /** `block … end` (no result); `br label` jumps past its end. */
  block(body: (label: Label) => void): this {
    return this.structured(0x02, body);
  }

  /** `loop … end` (no result); `br label` jumps back to its start. */
  loop(body: (label: Label) => void): this {
    return this.structured(0x03, body);
  }

  /** `if … else … end` (no result) on the i32 on the stack. */
  if(then: (label: Label) => void, otherwise?: (label: Label) => void): this {
    this.code.push(0x04, 0x40);
    this.depth++;
    const label = { depth: this.depth };
    then(label);
    if (otherwise !== undefined) {
      this.code.push(0x05);
      otherwise(label);
    }
    this.code.push(0x0b);
    this.depth--;
    return this;
  }

  /** `br` to an enclosing label. */
  br(label: Label): this {
    this.code.push(0x0c, ...unsignedLeb128(this.relativeDepth(label)));
    return this;
  }

  /** `br_if` to an enclosing label on the i32 on the stack. */
  brIf(label: Label): this {
    this.code.push(0x0d, ...unsignedLeb128(this.relativeDepth(label)));
    return this;
  }

  /** The function body as the code section wants it: size, locals (grouped in runs), code, `end`. */
  encode(): number[] {
    if (this.depth !== 0) throw new Error("function body encoded inside an open block");
    const runs: number[][] = [];
    let i = 0;
    while (i < this.locals.length) {
      const type = defined(this.locals[i], "a local").type;
      let count = 0;
      while (i < this.locals.length && this.locals[i]?.type === type) {
        count++;
        i++;
      }
      runs.push([...unsignedLeb128(count), VALTYPE_CODE[type]]);
    }
    const body = [...vector(runs), ...this.code, 0x0b];
    return [...unsignedLeb128(body.length), ...body];
  }

  private structured(opcode: number, body: (label: Label) => void): this {
    this.code.push(opcode, 0x40); // 0x40: the empty block type
    this.depth++;
    body({ depth: this.depth });
    this.code.push(0x0b);
    this.depth--;
    return this;
  }

  private relativeDepth(label: Label): number {
    if (label.depth < 1 || label.depth > this.depth) throw new Error("branch to a label that is not enclosing");
    return this.depth - label.depth;
  }
}

// ---------------------------------------------------------------------------------------------
// Modules

/** A function declared in a module: its index (for `call`) and its body builder. */
export interface FunctionHandle {
  readonly index: number;
  readonly body: FunctionBuilder;
}

/** Memory limits in 64 KiB pages (always with a maximum: a shared memory requires one). */
export interface MemoryLimits {
  readonly minimumPages: number;
  readonly maximumPages: number;
  readonly shared: boolean;
}

/**
 * A module: an optional imported memory and defined functions, some exported. Function types
 * are deduplicated in declaration order, so equal builder calls give equal bytes.
 */
export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly typeBytes: number[][] = [];
  private readonly functions: { type: number; body: FunctionBuilder }[] = [];
  private readonly exports: { name: string; index: number }[] = [];
  private memoryImport: { module: string; name: string; limits: MemoryLimits } | undefined;

  /** Imports the module's memory as `module.name`. */
  importMemory(module: string, name: string, limits: MemoryLimits): this {
    this.memoryImport = { module, name, limits };
    return this;
  }

  /** Declares a function; fill its body through the returned builder, before `encode`. */
  function(params: readonly ValType[], results: readonly ValType[], exportName?: string): FunctionHandle {
    const body = new FunctionBuilder(params, results);
    const index = this.functions.length; // no imported functions, so defined functions start at 0
    this.functions.push({ type: this.typeIndex(params, results), body });
    if (exportName !== undefined) this.exports.push({ name: exportName, index });
    return { index, body };
  }

  /** The module's bytes. */
  encode(): Uint8Array {
    const bytes: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]; // "\0asm", version 1
    // Appended element by element: spreading a large section into push() would overflow the stack.
    const append = (part: readonly number[]) => {
      for (const byte of part) bytes.push(byte);
    };
    append(section(1, vector(this.typeBytes)));
    if (this.memoryImport !== undefined) {
      const { module, name, limits } = this.memoryImport;
      // Limits flags: bit 0 = has a maximum, bit 1 = shared (the threads proposal, on in Node 20).
      const flags = 0x01 | (limits.shared ? 0x02 : 0);
      const entry = [
        ...utf8Name(module),
        ...utf8Name(name),
        0x02, // import kind: memory
        flags,
        ...unsignedLeb128(limits.minimumPages),
        ...unsignedLeb128(limits.maximumPages),
      ];
      append(section(2, vector([entry])));
    }
    append(section(3, vector(this.functions.map((f) => unsignedLeb128(f.type)))));
    const exportEntries = this.exports.map((e) => [...utf8Name(e.name), 0x00, ...unsignedLeb128(e.index)]);
    append(section(7, vector(exportEntries)));
    append(section(10, vector(this.functions.map((f) => f.body.encode()))));
    return Uint8Array.from(bytes);
  }

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(",")}->${results.join(",")}`;
    const found = this.types.indexOf(key);
    if (found >= 0) return found;
    this.types.push(key);
    const encodeTypes = (types: readonly ValType[]) => [
      ...unsignedLeb128(types.length),
      ...types.map((t) => VALTYPE_CODE[t]),
    ];
    this.typeBytes.push([0x60, ...encodeTypes(params), ...encodeTypes(results)]);
    return this.types.length - 1;
  }
}

// ---------------------------------------------------------------------------------------------
// The JavaScript API

/**
 * The part of the WebAssembly JavaScript API we use, typed here because the project's lib
 * (ES2022, no DOM) and @types/node 20 declare no `WebAssembly` global.
 */
export interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WebAssemblyMemory;
}

/** A WebAssembly.Memory; `buffer` is a SharedArrayBuffer when the memory is shared. */
export interface WebAssemblyMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** The engine's WebAssembly API. */
export const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
