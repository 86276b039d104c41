/**
 * A thread pool that runs exports of one WebAssembly module on several cores over one shared
 * WebAssembly.Memory, as TypeScript source text that a generated kernel module embeds (the module
 * imports nothing, so the pool cannot be imported either).
 *
 * The kernels are synchronous, so the pool is too: run() hands each worker its job through a
 * SharedArrayBuffer of control words, does thread 0's share on the calling thread, then blocks
 * in Atomics.wait until the workers are done. Workers are Node worker_threads made from an
 * eval'd script and reached through process.getBuiltinModule (no static import, so the module
 * still loads where there are no workers; it then runs on one thread). While the caller is
 * blocked no worker event ('error', 'exit') can be observed, so every wait has a timeout and
 * each worker reports its state in a status word: a pool whose workers do not start in time
 * falls back to fewer threads, and run() fails with a message if a worker exits mid-job.
 *
 * Names the source defines at top level, all prefixed to stay clear of kernel names: the types
 * WasmPool, WasmPoolOptions, WasmPoolMemory, WasmPoolFunction; the functions createWasmPool and
 * wasmPoolCores; WASM_POOL_ARGS; and internal WasmPool*, WASM_POOL_* and wasmPool* helpers.
 */

/** Argument slots per thread in WasmPool.args. */
export const POOL_ARGS = 16;

/** Control words (Int32 indices): the header, then one 16-word block (64 bytes) per worker slot. */
const PENDING = 0;
const FN = 1;
const ARGC = 2;
const ERROR = 3;
const ERROR_LENGTH = 4;
const STOP = 5;
const REPORTED = 6;
const START_ERROR = 7;
const START_ERROR_LENGTH = 8;
const BLOCK = 16;
/** Offsets inside a worker's block: its wake-up counter, its thread index, its status. */
const GO = 0;
const THREAD = 1;
const STATUS = 2;
/** Worker statuses. */
const STARTING = 0;
const READY = 1;
const FAILED = 2;
const EXITED = 3;
/** UTF-16 code units kept of an error message (one region for job errors, one for start failures). */
const MESSAGE_UNITS = 512;

/**
 * `switch (argc)` calling `f` with argc arguments read from `a` at `o`: a call with a fixed
 * argument list allocates nothing, unlike a spread.
 */
function callSwitch(indent: string): string {
  const cases: string[] = [];
  for (let n = 0; n <= POOL_ARGS; n++) {
    const list = Array.from({ length: n }, (_, i) => (i === 0 ? "a[o]" : `a[o + ${i}]`)).join(", ");
    cases.push(`${indent}  case ${n}:\n${indent}    f(${list});\n${indent}    return;`);
  }
  return `${indent}switch (argc) {\n${cases.join("\n")}\n${indent}}`;
}

/**
 * The worker's script (CommonJS, plain JavaScript; no backquotes or dollar-brace so that it sits
 * inside a template literal). The layout constants arrive in workerData, so there is one copy.
 */
const WORKER = `"use strict";
const { workerData: d } = require("node:worker_threads");
(function main() {
  const ctl = new Int32Array(d.control);
  const text = new Uint16Array(d.control, d.textOffset, d.textUnits);
  const startText = new Uint16Array(d.control, d.textOffset + 2 * d.textUnits, d.textUnits);
  const args = new Float64Array(d.args);
  const base = d.slot * d.block;
  // The first error wins the flag word (thread + 1), then writes its message and length.
  const fail = (error, thread, flag, length, region) => {
    if (Atomics.compareExchange(ctl, flag, 0, thread + 1) !== 0) return;
    let message = String(error);
    try {
      if (error instanceof Error) message = error.name + ": " + error.message;
    } catch {}
    const n = Math.min(message.length, region.length);
    for (let i = 0; i < n; i++) region[i] = message.charCodeAt(i);
    Atomics.store(ctl, length, n);
  };
  const call = (f, a, o, argc) => {
${callSwitch("    ")}
  };
  // Only this thread writes its status word, so the check and the store cannot race.
  process.on("exit", () => {
    if (Atomics.load(ctl, base + d.status) !== d.failed) Atomics.store(ctl, base + d.status, d.exited);
    Atomics.notify(ctl, d.pending);
    Atomics.notify(ctl, d.reported);
  });
  let functions;
  try {
    const imports = {};
    imports[d.memoryImport[0]] = {};
    imports[d.memoryImport[0]][d.memoryImport[1]] = d.memory;
    const instance = new WebAssembly.Instance(d.module, imports);
    functions = d.names.map((name) => {
      const f = instance.exports[name];
      if (typeof f !== "function") throw new Error("the module has no function export " + JSON.stringify(name));
      return f;
    });
    Atomics.store(ctl, base + d.status, d.ready);
  } catch (error) {
    fail(error, d.slot, d.startError, d.startErrorLength, startText);
    Atomics.store(ctl, base + d.status, d.failed);
  }
  Atomics.add(ctl, d.reported, 1);
  Atomics.notify(ctl, d.reported);
  if (functions === undefined) return;
  let seen = 0;
  for (;;) {
    let go = Atomics.load(ctl, base + d.go);
    for (let i = 0; go === seen && i < d.spin; i++) go = Atomics.load(ctl, base + d.go);
    while (go === seen) {
      Atomics.wait(ctl, base + d.go, seen);
      go = Atomics.load(ctl, base + d.go);
    }
    seen = go;
    if (Atomics.load(ctl, d.stop) !== 0) return;
    const thread = ctl[base + d.thread];
    try {
      call(functions[ctl[d.fn]], args, thread * d.argSlots, ctl[d.argc]);
    } catch (error) {
      fail(error, thread, d.error, d.errorLength, text);
    }
    if (Atomics.sub(ctl, d.pending, 1) === 1) Atomics.notify(ctl, d.pending);
  }
})();
`;

/** The pool as TypeScript source text, for a generated module to embed (see the file comment). */
export const POOL_SOURCE = `
/** Argument slots per thread in WasmPool.args. */
const WASM_POOL_ARGS = ${POOL_ARGS};

/** A WebAssembly export as the pool calls it: numbers in (i32, f32 or f64 parameters only). */
type WasmPoolFunction = (...args: number[]) => unknown;

/** The part of WebAssembly.Memory the pool needs (declared here: the module has no DOM or Node types). */
interface WasmPoolMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

/** Threads running exports of one WebAssembly module over one shared memory, synchronously. */
interface WasmPool {
  /** Threads that run jobs, the calling thread included (fewer than asked for when degraded is set). */
  readonly threads: number;
  /** Each thread's call arguments: thread t's i-th is args[t * WASM_POOL_ARGS + i]. Set them before run(). */
  readonly args: Float64Array;
  /** Why the pool has fewer threads than asked for; "" when it has them all. */
  readonly degraded: string;
  /**
   * Calls the export names[fn] with argc arguments on threads t = 0..count-1 (t = 0 is the
   * calling thread) and returns when all are done. Allocates nothing unless it throws. Rethrows
   * the calling thread's own error as is, or a worker's as an Error naming the export, the thread
   * and the worker's message; the pool stays usable after either.
   */
  run(fn: number, argc: number, count: number): void;
  /** Stops the workers (run() throws afterwards); calling it again does nothing. */
  dispose(): void;
}

interface WasmPoolOptions {
  /** The module: it may import only the shared memory. */
  readonly bytes: Uint8Array;
  /** Shared (a SharedArrayBuffer underneath) when threads > 1. */
  readonly memory: WasmPoolMemory;
  /** The exports run() can call, by index. */
  readonly names: readonly string[];
  /** Threads wanted, the calling thread included. */
  readonly threads: number;
  /** Import module and field name of the memory; default ["env", "memory"]. */
  readonly memoryImport?: readonly [string, string];
  /** Milliseconds to wait for the workers to start before going on with those that did; default 10000. */
  readonly startTimeout?: number;
  /**
   * Atomics.load polls (each some 5 to 30 ns) before a thread sleeps in Atomics.wait: workers
   * after a job, the caller before its workers finish. Default 0: polling saves the futex wake-up
   * between back-to-back calls on an idle machine, but on a busy one the polling threads take the
   * cores from the threads they wait for (measured on 2 cores at load 10: round trips several times slower).
   */
  readonly spin?: number;
}

interface WasmPoolGlobals {
  readonly WebAssembly: {
    readonly Module: new (bytes: Uint8Array) => object;
    readonly Instance: new (
      module: object,
      imports: Record<string, Record<string, unknown>>,
    ) => { readonly exports: Readonly<Record<string, unknown>> };
  };
  readonly process?: { readonly getBuiltinModule?: (id: string) => unknown };
}

interface WasmPoolWorker {
  unref(): void;
  terminate(): Promise<number>;
}

interface WasmPoolWorkerThreads {
  readonly Worker: new (
    source: string,
    options: { eval: boolean; workerData: unknown; execArgv: string[] },
  ) => WasmPoolWorker;
}

const WASM_POOL_WORKER = \`${WORKER}\`;

/** A Node built-in module, or undefined outside Node or before Node 20.16. */
function wasmPoolBuiltin(id: string): unknown {
  const node = (globalThis as unknown as WasmPoolGlobals).process;
  try {
    return typeof node?.getBuiltinModule === "function" ? node.getBuiltinModule(id) : undefined;
  } catch {
    return undefined;
  }
}

/** The cores this process may use (os.availableParallelism), or 1 where that is unknown. */
function wasmPoolCores(): number {
  const os = wasmPoolBuiltin("node:os") as { availableParallelism?: () => number } | undefined;
  const cores = typeof os?.availableParallelism === "function" ? os.availableParallelism() : 1;
  return Number.isInteger(cores) && cores >= 1 ? cores : 1;
}

/** Stops the workers of a pool that was dropped without dispose(), so its threads do not pile up. */
const wasmPoolFinalizer = new FinalizationRegistry((stop: (reason: string) => void) => stop("collected"));

function wasmPoolCall(f: WasmPoolFunction, a: Float64Array, o: number, argc: number): void {
${callSwitch("  ")}
}

/**
 * Instantiates the module on the calling thread and on threads - 1 workers, all over options.memory,
 * and returns the pool with the calling thread's instance exports. Blocks until the workers are
 * ready or options.startTimeout passes; with no workers available it runs everything on the caller.
 */
function createWasmPool(options: WasmPoolOptions): { pool: WasmPool; exports: Readonly<Record<string, unknown>> } {
  const { bytes, memory, names } = options;
  const memoryImport = options.memoryImport ?? ["env", "memory"];
  const wasm = (globalThis as unknown as WasmPoolGlobals).WebAssembly;
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new RangeError(\`createWasmPool: threads must be a positive integer, not \${options.threads}\`);
  }
  if (options.threads > 1 && !(memory.buffer instanceof SharedArrayBuffer)) {
    throw new Error("createWasmPool: threads > 1 need a shared WebAssembly.Memory (shared: true)");
  }
  const module = new wasm.Module(bytes);
  const instance = new wasm.Instance(module, { [memoryImport[0]]: { [memoryImport[1]]: memory } });
  const functions = names.map((name): WasmPoolFunction => {
    const f = instance.exports[name];
    if (typeof f !== "function") throw new Error(\`createWasmPool: the module has no function export "\${name}"\`);
    return f as WasmPoolFunction;
  });
  const spin = options.spin ?? 0;
  const slots = options.threads;
  const textOffset = slots * ${BLOCK} * 4;
  const control = new SharedArrayBuffer(textOffset + 4 * ${MESSAGE_UNITS});
  const ctl = new Int32Array(control);
  const text = new Uint16Array(control, textOffset, ${MESSAGE_UNITS});
  const startText = new Uint16Array(control, textOffset + 2 * ${MESSAGE_UNITS}, ${MESSAGE_UNITS});
  const argsBuffer = new SharedArrayBuffer(slots * WASM_POOL_ARGS * 8);
  const readMessage = (length: number, region: Uint16Array): string => {
    let message = "";
    const n = Atomics.load(ctl, length);
    for (let i = 0; i < n; i++) message += String.fromCharCode(region[i]!);
    return message;
  };

  // Workers in slots 1..threads-1; each reports once (ready or failed) through REPORTED.
  const Threads = wasmPoolBuiltin("node:worker_threads") as WasmPoolWorkerThreads | undefined;
  const workers: WasmPoolWorker[] = [];
  const problems: string[] = [];
  if (slots > 1 && typeof Threads?.Worker !== "function") {
    problems.push("worker_threads is not available (it needs Node 20.16 or later)");
  }
  for (let slot = 1; slot < slots && problems.length === 0; slot++) {
    const workerData = {
      module, memory, names, memoryImport, control, args: argsBuffer, slot, spin,
      textOffset, textUnits: ${MESSAGE_UNITS}, argSlots: WASM_POOL_ARGS, block: ${BLOCK},
      go: ${GO}, thread: ${THREAD}, status: ${STATUS}, pending: ${PENDING}, fn: ${FN}, argc: ${ARGC},
      error: ${ERROR}, errorLength: ${ERROR_LENGTH}, startError: ${START_ERROR},
      startErrorLength: ${START_ERROR_LENGTH}, stop: ${STOP}, reported: ${REPORTED},
      ready: ${READY}, failed: ${FAILED}, exited: ${EXITED},
    };
    try {
      // execArgv: [] keeps loaders such as tsx (--import) out of the workers; V8 flags are process-wide anyway.
      const worker = new Threads!.Worker(WASM_POOL_WORKER, { eval: true, workerData, execArgv: [] });
      worker.unref();
      workers.push(worker);
    } catch (error) {
      problems.push(\`a worker could not be created: \${String(error)}\`);
    }
  }
  // Wait until no worker is still starting: each one that reports (ready, failed, or exited on
  // the way) notifies REPORTED.
  const startTimeout = options.startTimeout ?? 10000;
  const deadline = Date.now() + startTimeout;
  const statusOf = (slot: number): number => Atomics.load(ctl, slot * ${BLOCK} + ${STATUS});
  for (;;) {
    const reported = Atomics.load(ctl, ${REPORTED});
    let starting = 0;
    for (let slot = 1; slot <= workers.length; slot++) if (statusOf(slot) === ${STARTING}) starting++;
    const left = deadline - Date.now();
    if (starting === 0 || left <= 0) break;
    Atomics.wait(ctl, ${REPORTED}, reported, left);
  }
  const active: WasmPoolWorker[] = [];
  const wake: number[] = [0];
  for (let slot = 1; slot <= workers.length; slot++) {
    const worker = workers[slot - 1]!;
    const status = statusOf(slot);
    if (status === ${READY}) {
      ctl[slot * ${BLOCK} + ${THREAD}] = wake.length;
      wake.push(slot * ${BLOCK} + ${GO});
      active.push(worker);
      continue;
    }
    if (Atomics.load(ctl, ${START_ERROR}) === slot + 1) {
      problems.push(\`worker \${slot} failed to start: \${readMessage(${START_ERROR_LENGTH}, startText)}\`);
    } else if (status === ${STARTING}) problems.push(\`worker \${slot} did not start within \${startTimeout} ms\`);
    else if (status === ${FAILED}) problems.push(\`worker \${slot} failed to start\`);
    else problems.push(\`worker \${slot} exited while starting\`);
    void worker.terminate().catch(() => undefined);
  }
  const threadCount = wake.length;
  const wakeWords = Int32Array.from(wake);
  const args = new Float64Array(argsBuffer, 0, threadCount * WASM_POOL_ARGS);
  const degraded = problems.length === 0 ? "" : \`\${threadCount} of \${slots} threads: \${problems.join("; ")}\`;
  // Why run() refuses to run; "" while the pool works. No closure here may capture \`pool\`: stop is
  // the finalizer's held value, and would keep the pool alive.
  let stopped = "";
  const stop = (reason: string): void => {
    if (stopped !== "") return;
    stopped = reason;
    Atomics.store(ctl, ${STOP}, 1);
    for (let t = 1; t < threadCount; t++) {
      Atomics.add(ctl, wakeWords[t]!, 1);
      Atomics.notify(ctl, wakeWords[t]!);
    }
    for (const worker of active) void worker.terminate().catch(() => undefined);
  };

  const pool: WasmPool = {
    threads: threadCount,
    args,
    degraded,
    run(fn: number, argc: number, count: number): void {
      if (stopped !== "") throw new Error(stopped);
      if (!(fn >= 0 && fn < functions.length && fn === (fn | 0))) {
        throw new RangeError(\`WasmPool.run: no export number \${fn} (there are \${functions.length})\`);
      }
      if (!(argc >= 0 && argc <= WASM_POOL_ARGS && argc === (argc | 0))) {
        throw new RangeError(\`WasmPool.run: argc must be 0..\${WASM_POOL_ARGS}, not \${argc}\`);
      }
      if (!(count >= 1 && count <= threadCount && count === (count | 0))) {
        throw new RangeError(\`WasmPool.run: count must be 1..\${threadCount}, not \${count}\`);
      }
      ctl[${FN}] = fn;
      ctl[${ARGC}] = argc;
      Atomics.store(ctl, ${PENDING}, count - 1);
      for (let t = 1; t < count; t++) {
        Atomics.add(ctl, wakeWords[t]!, 1);
        Atomics.notify(ctl, wakeWords[t]!);
      }
      let ownError: unknown;
      let failed = false;
      try {
        wasmPoolCall(functions[fn]!, args, 0, argc);
      } catch (error) {
        ownError = error;
        failed = true;
      }
      let pending = Atomics.load(ctl, ${PENDING});
      for (let i = 0; pending !== 0 && i < spin; i++) pending = Atomics.load(ctl, ${PENDING});
      while (pending !== 0) {
        // A worker cannot be watched from here, so wake up now and then to read the status words.
        Atomics.wait(ctl, ${PENDING}, pending, 500);
        pending = Atomics.load(ctl, ${PENDING});
        for (let t = 1; pending !== 0 && t < count; t++) {
          if (Atomics.load(ctl, wakeWords[t]! - ${GO} + ${STATUS}) !== ${EXITED}) continue;
          stop(\`WasmPool.run: worker thread \${t} exited while running "\${names[fn]}"; the pool is stopped\`);
          throw new Error(stopped);
        }
      }
      const thread = Atomics.load(ctl, ${ERROR});
      if (thread === 0 && !failed) return;
      // Clear the worker's error even when the caller's own wins, so it cannot surface in a later run.
      const message = thread === 0 ? "" : readMessage(${ERROR_LENGTH}, text);
      Atomics.store(ctl, ${ERROR_LENGTH}, 0);
      Atomics.store(ctl, ${ERROR}, 0);
      if (failed) throw ownError;
      throw new Error(\`WebAssembly export "\${names[fn]}" failed on thread \${thread - 1}: \${message}\`);
    },
    dispose(): void {
      stop("WasmPool.run: the pool was disposed");
    },
  };
  if (threadCount > 1) wasmPoolFinalizer.register(pool, stop);
  return { pool, exports: instance.exports };
}
`;
