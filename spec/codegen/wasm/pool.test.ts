/**
 * The WebAssembly thread pool (compiler/codegen/wasm/pool.ts), loaded the way a generated module
 * loads it: POOL_SOURCE transpiled by esbuild and imported as JavaScript. Threaded runs match a
 * serial loop, traps come back to the caller, the workers never keep a process alive, dispose()
 * ends the pool, a pool whose workers cannot start falls back to fewer threads, and the source
 * type-checks strictly with no DOM or Node types.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transformSync } from "esbuild";
import { POOL_ARGS, POOL_SOURCE } from "../../../compiler/codegen/wasm/pool.ts";
import { runNode } from "../../support/cli.ts";
import { nth } from "../../support/entries.ts";
import { typeCheck } from "../../support/typecheck.ts";

// The project's types (ES2022 and Node 20) have no WebAssembly values: the part the tests use.
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (descriptor: { initial: number; maximum: number; shared?: boolean }) => WasmMemory;
      RuntimeError: new () => Error;
      validate(bytes: Uint8Array): boolean;
    };
  }
).WebAssembly;

// ---------------------------------------------------------------- a tiny module, encoded by hand

function uleb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  do {
    const low = rest & 0x7f;
    rest >>>= 7;
    bytes.push(rest === 0 ? low : low | 0x80);
  } while (rest !== 0);
  return bytes;
}

function sleb(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  for (;;) {
    const low = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (low & 0x40) === 0) || (rest === -1 && (low & 0x40) !== 0);
    bytes.push(done ? low : low | 0x80);
    if (done) return bytes;
  }
}

const utf8 = (text: string) => [...uleb(text.length), ...Buffer.from(text, "utf8")];
const vector = (items: readonly number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: readonly number[]) => [id, ...uleb(body.length), ...body];

const I32 = 0x7f;
const F64 = 0x7c;
const PAGES = 4;

/**
 * (import "env" "memory" (memory PAGES PAGES shared)), and three exports:
 * add(offset: i32, count: i32, value: f64) adds value to count doubles from byte offset `offset`
 * (so an offset past the memory traps out of bounds); trap() hits `unreachable`; nop() returns.
 * With `once`, a start function traps if the i32 at address 0 is set and sets it otherwise, so
 * only the first instance (the caller's) can be made.
 */
function testModule(once = false): Uint8Array {
  const types = section(
    1,
    vector([
      [0x60, ...vector([[I32], [I32], [F64]]), 0],
      [0x60, 0, 0],
    ]),
  );
  const imports = section(2, vector([[...utf8("env"), ...utf8("memory"), 0x02, 0x03, ...uleb(PAGES), ...uleb(PAGES)]]));
  const functions = section(3, vector(once ? [[0], [1], [1], [1]] : [[0], [1], [1]]));
  const exports = section(
    7,
    vector([
      [...utf8("add"), 0x00, 0],
      [...utf8("trap"), 0x00, 1],
      [...utf8("nop"), 0x00, 2],
    ]),
  );
  const get = (i: number) => [0x20, i];
  const address = [...get(0), ...get(3), 0x41, ...sleb(3), 0x74, 0x6a]; // offset + (i << 3)
  const add = [
    ...vector([[1, I32]]), // local 3: i
    ...[0x02, 0x40, 0x03, 0x40], // block, loop
    ...[...get(3), ...get(1), 0x4f, 0x0d, 1], // if i >= count (unsigned) break
    ...address,
    ...[...address, 0x2b, 3, 0], // f64.load align 8
    ...[...get(2), 0xa0, 0x39, 3, 0], // f64.add, f64.store
    ...[...get(3), 0x41, 1, 0x6a, 0x21, 3], // i += 1
    ...[0x0c, 0, 0x0b, 0x0b, 0x0b], // br loop; end loop, block, function
  ];
  const trap = [...vector([]), 0x00, 0x0b];
  const nop = [...vector([]), 0x0b];
  const guard = [
    ...vector([]),
    ...[0x41, 0, 0x28, 2, 0, 0x04, 0x40, 0x00, 0x0b], // if (i32.load 0) unreachable
    ...[0x41, 0, 0x41, 1, 0x36, 2, 0, 0x0b], // i32.store 0 1
  ];
  const bodies = once ? [add, trap, nop, guard] : [add, trap, nop];
  const code = section(10, vector(bodies.map((body) => [...uleb(body.length), ...body])));
  const start = once ? section(8, uleb(3)) : [];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...types,
    ...imports,
    ...functions,
    ...exports,
    ...start,
    ...code,
  ]);
}

const NAMES = ["add", "trap", "nop"] as const;
const ADD = 0;
const TRAP = 1;
const NOP = 2;

// ---------------------------------------------------------------- the pool, loaded as a generated module loads it

interface WasmPool {
  readonly threads: number;
  readonly args: Float64Array;
  readonly degraded: string;
  run(fn: number, argc: number, count: number): void;
  dispose(): void;
}

interface PoolModule {
  createWasmPool(options: {
    bytes: Uint8Array;
    memory: WasmMemory;
    names: readonly string[];
    threads: number;
    startTimeout?: number;
    spin?: number;
  }): { pool: WasmPool; exports: Readonly<Record<string, unknown>> };
  wasmPoolCores(): number;
}

const EXPORTS = "\nexport { createWasmPool, wasmPoolCores, WASM_POOL_ARGS };\n";
const DIR = mkdtempSync(join(tmpdir(), "nqm-wasm-pool-"));
const POOL_FILE = join(DIR, "pool.mjs");
let loaded: PoolModule;
const pools: WasmPool[] = [];

before(async () => {
  const { code } = transformSync(POOL_SOURCE + EXPORTS, { loader: "ts", format: "esm", target: "node20" });
  writeFileSync(POOL_FILE, code);
  loaded = (await import(pathToFileURL(POOL_FILE).href)) as PoolModule;
});
after(() => {
  for (const pool of pools) pool.dispose();
  rmSync(DIR, { recursive: true, force: true });
});

function newMemory(): WasmMemory {
  return new Wasm.Memory({ initial: PAGES, maximum: PAGES, shared: true });
}

function create(threads: number, memory = newMemory(), extra: { startTimeout?: number; spin?: number } = {}) {
  const created = loaded.createWasmPool({ bytes: testModule(), memory, names: NAMES, threads, ...extra });
  pools.push(created.pool);
  return { ...created, memory };
}

/** Thread t adds (t + 1) / 4 to its own slice of `length` doubles starting at double `start`. */
function splitAdd(pool: WasmPool, count: number, start: number, length: number): void {
  const chunk = Math.ceil(length / count);
  for (let t = 0; t < count; t++) {
    const from = Math.min(length, t * chunk);
    const to = Math.min(length, from + chunk);
    pool.args[t * POOL_ARGS] = (start + from) * 8;
    pool.args[t * POOL_ARGS + 1] = to - from;
    pool.args[t * POOL_ARGS + 2] = (t + 1) / 4;
  }
  pool.run(ADD, 3, count);
}

// ---------------------------------------------------------------- tests

describe("WebAssembly thread pool", () => {
  test("the hand-encoded test module is valid WebAssembly", () => {
    assert.ok(Wasm.validate(testModule()));
  });

  test("1, 2 and 4 threads leave the memory a serial loop leaves", () => {
    const length = 1001;
    const start = 3;
    for (const threads of [1, 2, 4]) {
      const { pool, memory } = create(threads);
      assert.equal(pool.threads, threads, pool.degraded);
      assert.equal(pool.degraded, "");
      const view = new Float64Array(memory.buffer);
      for (let i = 0; i < view.length; i++) view[i] = Math.sin(i);
      const expected = Float64Array.from(view);
      const chunk = Math.ceil(length / threads);
      for (let i = 0; i < length; i++) expected[start + i] = nth(expected, start + i) + (Math.floor(i / chunk) + 1) / 4;
      splitAdd(pool, threads, start, length);
      assert.deepEqual(view, expected, `${threads} threads`);
      // Fewer threads than the pool has: the idle workers must not run the job.
      splitAdd(pool, 1, start, length);
      for (let i = 0; i < length; i++) expected[start + i] = nth(expected, start + i) + 1 / 4;
      assert.deepEqual(view, expected, `${threads} threads, count 1`);
    }
  });

  test("many back-to-back runs stay in step", () => {
    const { pool, memory } = create(2);
    const view = new Float64Array(memory.buffer);
    view.fill(0);
    for (let round = 0; round < 2000; round++) splitAdd(pool, 2, 0, 64);
    assert.deepEqual([...view.subarray(0, 64)], [...Array(32).fill(500), ...Array(32).fill(1000)]);
  });

  test("a trap on a worker is rethrown on the caller with its message, and the pool stays usable", () => {
    const { pool, memory } = create(2);
    pool.args[0] = 0;
    pool.args[1] = 1;
    pool.args[2] = 1;
    pool.args[POOL_ARGS] = PAGES * 65536; // past the end of the memory
    pool.args[POOL_ARGS + 1] = 1;
    pool.args[POOL_ARGS + 2] = 1;
    assert.throws(
      () => pool.run(ADD, 3, 2),
      (error: unknown) =>
        error instanceof Error &&
        /^WebAssembly export "add" failed on thread 1: RuntimeError: memory access out of bounds/.test(error.message),
    );
    // Both threads trap: the caller's own error wins, and the worker's must not leak into the next run.
    assert.throws(() => pool.run(TRAP, 0, 2), Wasm.RuntimeError);
    pool.run(NOP, 0, 2);
    pool.args[POOL_ARGS] = 1 << 30;
    assert.throws(() => pool.run(TRAP, 0, 1), Wasm.RuntimeError);
    assert.throws(() => pool.run(ADD, 3, 2), /"add" failed on thread 1: RuntimeError: memory access out of bounds/);
    const view = new Float64Array(memory.buffer);
    view.fill(0);
    splitAdd(pool, 2, 0, 4);
    assert.deepEqual([...view.subarray(0, 4)], [0.25, 0.25, 0.5, 0.5]);
  });

  test("a trap on the calling thread is rethrown as is, after the workers finish", () => {
    const { pool, memory } = create(2);
    const view = new Float64Array(memory.buffer);
    view.fill(0);
    pool.args[0] = PAGES * 65536;
    pool.args[1] = 1;
    pool.args[POOL_ARGS] = 0;
    pool.args[POOL_ARGS + 1] = 1000;
    pool.args[POOL_ARGS + 2] = 2;
    assert.throws(() => pool.run(ADD, 3, 2), Wasm.RuntimeError);
    assert.equal(view[999], 2, "the worker's share was complete when run() threw");
  });

  test("bad arguments to run() are refused with a message", () => {
    const { pool } = create(2);
    assert.throws(() => pool.run(3, 0, 1), /no export number 3/);
    assert.throws(() => pool.run(NOP, POOL_ARGS + 1, 1), /argc must be 0\.\.16/);
    assert.throws(() => pool.run(NOP, 0, 3), /count must be 1\.\.2/);
    assert.throws(() => pool.run(NOP, 0, 0), /count must be 1\.\.2/);
  });

  test("dispose() ends the pool: run() afterwards throws a clear error, a second dispose() does nothing", () => {
    const { pool } = create(2);
    pool.run(NOP, 0, 2);
    pool.dispose();
    assert.throws(() => pool.run(NOP, 0, 2), /^Error: WasmPool\.run: the pool was disposed$/);
    pool.dispose();
    assert.throws(() => pool.run(NOP, 0, 1), /disposed/);
  });

  test("workers that do not start in time leave a working pool with fewer threads", () => {
    const { pool, memory } = create(3, newMemory(), { startTimeout: 0 });
    assert.equal(pool.threads, 1);
    assert.match(pool.degraded, /^1 of 3 threads: worker 1 did not start within 0 ms; worker 2 did not start/);
    const view = new Float64Array(memory.buffer);
    view.fill(0);
    splitAdd(pool, 1, 0, 3);
    assert.deepEqual([...view.subarray(0, 3)], [0.25, 0.25, 0.25]);
  });

  test("workers that fail to start leave a working pool with fewer threads, and say why", () => {
    const memory = newMemory();
    const { pool } = loaded.createWasmPool({ bytes: testModule(true), memory, names: NAMES, threads: 3 });
    pools.push(pool);
    assert.equal(pool.threads, 1);
    // Either worker may fail first; only the first failure's message is kept.
    const failure = "worker [12] failed to start(: RuntimeError: unreachable)?";
    assert.match(pool.degraded, new RegExp(`^1 of 3 threads: ${failure}; ${failure}$`));
    assert.equal(pool.degraded.split("RuntimeError: unreachable").length, 2, pool.degraded);
    pool.args[0] = 8;
    pool.args[1] = 1;
    pool.args[2] = 2;
    pool.run(ADD, 3, 1);
    assert.equal(new Float64Array(memory.buffer)[1], 2);
  });

  test("without worker_threads (Node before 20.16, or not Node) the pool runs on the caller alone", () => {
    const get = process.getBuiltinModule;
    Object.defineProperty(process, "getBuiltinModule", { value: undefined, configurable: true, writable: true });
    try {
      const { pool } = create(2);
      assert.equal(pool.threads, 1);
      assert.equal(pool.degraded, "1 of 2 threads: worker_threads is not available (it needs Node 20.16 or later)");
      pool.run(NOP, 0, 1);
    } finally {
      Object.defineProperty(process, "getBuiltinModule", { value: get, configurable: true, writable: true });
    }
  });

  test("creation refuses an unshared memory for threads > 1 and a missing export", () => {
    const unshared = new Wasm.Memory({ initial: PAGES, maximum: PAGES });
    assert.throws(
      () => loaded.createWasmPool({ bytes: testModule(), memory: unshared, names: NAMES, threads: 2 }),
      /threads > 1 need a shared WebAssembly\.Memory/,
    );
    assert.throws(
      () => loaded.createWasmPool({ bytes: testModule(), memory: newMemory(), names: ["add", "sub"], threads: 1 }),
      /no function export "sub"/,
    );
    assert.throws(
      () => loaded.createWasmPool({ bytes: testModule(), memory: newMemory(), names: NAMES, threads: 0 }),
      /threads must be a positive integer/,
    );
  });

  test("one thread runs on the caller and waits for no worker", () => {
    const { pool, memory } = create(1, newMemory(), { startTimeout: 0 });
    assert.equal(pool.threads, 1);
    assert.equal(pool.degraded, "");
    pool.args[0] = 8;
    pool.args[1] = 2;
    pool.args[2] = 1.5;
    pool.run(ADD, 3, 1);
    assert.deepEqual([...new Float64Array(memory.buffer, 0, 4)], [0, 1.5, 1.5, 0]);
  });

  test("the pool also runs when its module is imported from a data: URL (as compile.ts may load kernels)", async () => {
    const { code } = transformSync(POOL_SOURCE + EXPORTS, { loader: "ts", format: "esm", target: "node20" });
    const viaData = (await import(
      `data:text/javascript;base64,${Buffer.from(`${code}\n// data\n`).toString("base64")}`
    )) as PoolModule;
    const memory = newMemory();
    const { pool } = viaData.createWasmPool({ bytes: testModule(), memory, names: NAMES, threads: 2 });
    pools.push(pool);
    assert.equal(pool.degraded, "");
    new Float64Array(memory.buffer).fill(0);
    splitAdd(pool, 2, 0, 2);
    assert.deepEqual([...new Float64Array(memory.buffer, 0, 3)], [0.25, 0.5, 0]);
  });

  test("wasmPoolCores is a positive integer", () => {
    const cores = loaded.wasmPoolCores();
    assert.ok(Number.isInteger(cores) && cores >= 1, String(cores));
  });

  test("a process that never calls dispose() exits by itself", async () => {
    const script = join(DIR, "forgetful.mjs");
    writeFileSync(
      script,
      `import { createWasmPool } from ${JSON.stringify(pathToFileURL(POOL_FILE).href)};
const memory = new WebAssembly.Memory({ initial: ${PAGES}, maximum: ${PAGES}, shared: true });
const bytes = Uint8Array.from(${JSON.stringify([...testModule()])});
const { pool } = createWasmPool({ bytes, memory, names: ["add", "trap", "nop"], threads: 2 });
pool.args[0] = 0; pool.args[1] = 1; pool.args[2] = 2;
pool.args[16] = 8; pool.args[17] = 1; pool.args[18] = 3;
pool.run(0, 3, 2);
console.log(pool.threads, [...new Float64Array(memory.buffer, 0, 2)].join(" "));
`,
    );
    const run = await runNode([script], { cwd: DIR, timeout: 20_000 });
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, "2 2 3\n");
  });

  test("a pool dropped without dispose() has its workers stopped once collected", {
    skip: !existsSync("/proc/self/status"),
  }, async () => {
    const script = join(DIR, "dropped.mjs");
    writeFileSync(
      script,
      `import { createWasmPool } from ${JSON.stringify(pathToFileURL(POOL_FILE).href)};
import { readFileSync } from "node:fs";
const threads = () => Number(/^Threads:\\s+(\\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))[1]);
const bytes = Uint8Array.from(${JSON.stringify([...testModule()])});
const make = (threads) => createWasmPool({ bytes, memory: new WebAssembly.Memory({ initial: ${PAGES}, maximum: ${PAGES}, shared: true }), names: ["add", "trap", "nop"], threads });
const before = threads();
const kept = make(2).pool;
make(4).pool.run(2, 0, 4);
const during = threads();
for (let i = 0; i < 200 && threads() > before + 1; i++) {
  globalThis.gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
}
kept.run(2, 0, 2);
console.log(during - before, threads() - before);
`,
    );
    const run = await runNode(["--expose-gc", script], { cwd: DIR, timeout: 30_000 });
    assert.equal(run.stderr, "");
    assert.equal(run.stdout, "4 1\n", "new threads while both pools live, then with only the kept one");
  });
});

// ---------------------------------------------------------------- type checking

describe("POOL_SOURCE type-checks", () => {
  /** Diagnostics of one in-memory module checked as a generated module is (no DOM or Node types). */
  const diagnostics = (text: string): string[] => [...typeCheck(DIR, { "check.ts": text }).values()].flat();

  // How a kernel module uses it; `declare` stands in for the module's own wasm bytes and memory.
  const USE = `
declare const WASM_BYTES: Uint8Array;
declare const WASM_MEMORY: { readonly buffer: SharedArrayBuffer; grow(pages: number): number };
export function demo(threads: number = wasmPoolCores()): number {
  const { pool, exports } = createWasmPool({ bytes: WASM_BYTES, memory: WASM_MEMORY, names: ["add"], threads });
  const add = exports.add as (offset: number, count: number, value: number) => void;
  add(0, 1, 2);
  for (let t = 0; t < pool.threads; t++) pool.args[t * WASM_POOL_ARGS] = t;
  pool.run(0, 3, pool.threads);
  pool.dispose();
  return pool.degraded.length;
}
`;

  test("strict, with no DOM or Node types", () => {
    assert.deepEqual(diagnostics(POOL_SOURCE + USE), []);
  });

  test("the check is not vacuous: a wrong use is rejected", () => {
    const wrong = diagnostics(
      `${POOL_SOURCE}\nexport const n: number = createWasmPool({ threads: 2 }).pool.threads;\n`,
    );
    assert.ok(
      wrong.some((d) => /\bTS(2345|2739)\b/.test(d)),
      wrong.join("\n"),
    );
  });
});
