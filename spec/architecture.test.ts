/**
 * The import picture of docs/architecture.md, enforced: every import in the repository points to
 * the same layer or one below it, and no set of files imports itself in a cycle (type-only imports
 * included: a file-level cycle is a design cycle even when the emitted code would load).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import ts from "typescript";

/**
 * The layers, lowest first; a file may import from its own layer or any earlier one. The same
 * order is drawn in docs/architecture.md. A path ending in "/" names a folder, otherwise a file.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["foundation/"],
  ["grammar/"],
  ["compiler/math.ts", "compiler/version.ts"],
  ["compiler/check/"],
  ["compiler/frontend.ts"],
  ["compiler/ir/"],
  ["compiler/simplify/"],
  ["compiler/diff/"],
  ["compiler/stage/"],
  ["compiler/codegen/"],
  ["runtime/"],
  ["api/"],
  ["cli/"],
  ["bench/", "scripts/", "spec/"],
];

const ROOT = resolve(import.meta.dirname, "..");

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs)$/.test(name) ? [path] : [];
  });
}

function layerOf(file: string): number {
  const index = LAYERS.findIndex((paths) => paths.some((p) => (p.endsWith("/") ? file.startsWith(p) : file === p)));
  assert.notEqual(index, -1, `${file} belongs to no layer; add it to LAYERS and to docs/architecture.md`);
  return index;
}

/** Every relative import (static, dynamic with a literal path, re-export) of every file, as repository paths. */
function importGraph(): Map<string, string[]> {
  const files = LAYERS.flat()
    .map((p) => (p.endsWith("/") ? p.slice(0, -1) : p))
    .flatMap((p) => (p.endsWith(".ts") ? [p] : sourceFiles(p)));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(ROOT, file), "utf8"), true, true);
    const targets = info.importedFiles
      .map((f) => f.fileName)
      .filter((name) => name.startsWith("."))
      .map((name) => relative(ROOT, resolve(ROOT, dirname(file), name)));
    graph.set(file, targets);
  }
  return graph;
}

/** The imports that point to a higher layer, as messages. */
function upwardImports(graph: ReadonlyMap<string, readonly string[]>): string[] {
  return [...graph].flatMap(([file, targets]) =>
    targets.filter((t) => layerOf(t) > layerOf(file)).map((t) => `${file} imports ${t}, a higher layer`),
  );
}

/** The sets of files that import each other in a cycle (strongly connected components with a cycle). */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>, ignoredEdges: ReadonlySet<string>): string[][] {
  const edges = (file: string) => (graph.get(file) ?? []).filter((t) => !ignoredEdges.has(`${file} ${t}`));
  // Tarjan's strongly connected components, iteratively.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { file: string; next: number }[] = [{ file: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      if (frame === undefined) break;
      const targets = edges(frame.file);
      const target = targets[frame.next++];
      if (target !== undefined) {
        if (!index.has(target)) {
          index.set(target, counter);
          low.set(target, counter++);
          stack.push(target);
          onStack.add(target);
          work.push({ file: target, next: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.file, Math.min(low.get(frame.file) ?? 0, index.get(target) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.file, Math.min(low.get(parent.file) ?? 0, low.get(frame.file) ?? 0));
      if (low.get(frame.file) === index.get(frame.file)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop();
          if (member !== undefined) {
            onStack.delete(member);
            component.push(member);
          }
        } while (member !== undefined && member !== frame.file);
        if (component.length > 1 || targets.includes(frame.file)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

test("every import points to its own layer or a lower one", () => {
  assert.deepEqual(upwardImports(importGraph()), []);
});

test("every import names an existing file", () => {
  const graph = importGraph();
  const missing = [...graph].flatMap(([file, targets]) =>
    targets.filter((t) => !graph.has(t)).map((t) => `${file} imports ${t}, which is not a source file`),
  );
  assert.deepEqual(missing, []);
});

test("no files import each other in a cycle", () => {
  assert.deepEqual(cyclesOf(importGraph(), new Set()), []);
});

test("the checks find an upward import and a cycle (they can fail)", () => {
  const upward = new Map([["grammar/ast.ts", ["compiler/check/typed.ts"]]]);
  assert.deepEqual(upwardImports(upward), ["grammar/ast.ts imports compiler/check/typed.ts, a higher layer"]);
  assert.deepEqual(upwardImports(new Map([["compiler/ir/ops.ts", ["foundation/shape.ts"]]])), []);
  const cycle = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["c.ts"]],
    ["c.ts", ["a.ts"]],
    ["d.ts", ["a.ts", "d.ts"]],
  ]);
  assert.deepEqual(cyclesOf(cycle, new Set()), [["a.ts", "b.ts", "c.ts"], ["d.ts"]]);
  assert.deepEqual(cyclesOf(cycle, new Set(["c.ts a.ts", "d.ts d.ts"])), []);
  assert.throws(() => layerOf("elsewhere/x.ts"), /belongs to no layer/);
});
