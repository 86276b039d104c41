import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NqmError } from "../../foundation/diagnostics.ts";
import { DATASET_HELP, DATASET_KINDS, loadDataset } from "../../runtime/data/index.ts";
import { nth, present } from "../support/entries.ts";

/** Asserts that `run` throws an NqmError with `code` whose message matches every pattern. */
function throwsNqm(run: () => unknown, code: string, ...patterns: RegExp[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof NqmError, `expected NqmError, got ${String(error)}`);
    const diagnostic = nth(error.diagnostics, 0);
    assert.equal(diagnostic.code, code);
    for (const pattern of patterns) assert.match(diagnostic.message, pattern);
    return true;
  });
}

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += nth(values, i);
  return sum / values.length;
}

function rowKey(x: Float64Array, row: number, width: number): string {
  return Array.from(x.subarray(row * width, (row + 1) * width)).join(",");
}

// ---------------------------------------------------------------- gauss1d

test("gauss1d: shapes, labels and the two class distributions", () => {
  const data = loadDataset("gauss1d:n=20000,test=10", { seed: 1 });
  assert.deepEqual(data.inputShape, [1]);
  assert.equal(data.outputSize, 1);
  assert.equal(data.train.n, 20000);
  assert.equal(data.train.x.length, 20000);
  assert.equal(data.test?.n, 10);
  const negatives = [...data.train.x].filter((_, i) => data.train.y[i] === -1);
  const positives = [...data.train.x].filter((_, i) => data.train.y[i] === 1);
  assert.equal(negatives.length, 10000);
  assert.equal(positives.length, 10000);
  // Sample mean of 10,000 N(±2, 1) draws: standard error 0.01.
  assert.ok(Math.abs(mean(negatives) + 2) < 0.05, `mean of the -1 class ${mean(negatives)}`);
  assert.ok(Math.abs(mean(positives) - 2) < 0.05, `mean of the +1 class ${mean(positives)}`);
  const variance = mean(positives.map((v) => (v - 2) ** 2));
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
});

test("gauss1d: defaults follow the paper (128 train points), odd n splits floor/ceil", () => {
  const data = loadDataset("gauss1d", { seed: 0 });
  assert.equal(data.train.n, 128);
  assert.ok(data.test !== undefined && data.test.n >= 1000);
  const odd = loadDataset("gauss1d:n=5,test=0", { seed: 0 });
  assert.deepEqual([...odd.train.y], [-1, -1, 1, 1, 1]);
  assert.equal(odd.test, undefined);
});

test("gauss1d: same seed gives bit-identical data, another seed different data, test differs from train", () => {
  const a = loadDataset("gauss1d:n=64,test=64", { seed: 7 });
  const b = loadDataset("gauss1d:n=64,test=64", { seed: 7 });
  const c = loadDataset("gauss1d:n=64,test=64", { seed: 8 });
  assert.deepEqual(a.train.x, b.train.x);
  assert.deepEqual(a.test?.x, b.test?.x);
  assert.notDeepEqual(a.train.x, c.train.x);
  assert.notDeepEqual(a.train.x, a.test?.x);
});

test("gauss1d: mean and std options", () => {
  const data = loadDataset("gauss1d:n=4000,test=0,mean=10,std=0.5", { seed: 3 });
  const positives = [...data.train.x].filter((_, i) => data.train.y[i] === 1);
  assert.ok(Math.abs(mean(positives) - 10) < 0.1);
  assert.ok(Math.abs(Math.sqrt(mean(positives.map((v) => (v - 10) ** 2))) - 0.5) < 0.05);
});

// ---------------------------------------------------------------- single

test("data sets are held to a memory limit before anything is allocated (NQM3010 with the estimate)", () => {
  // gauss1d:n=1e9 would take 16 GB; it must be refused at once, whatever the machine.
  throwsNqm(
    () => loadDataset("gauss1d:n=1e9", { seed: 0 }),
    "NQM3010",
    /gauss1d with n=1000000000 and test=2000 would need about 14\.9 GiB/,
  );
  throwsNqm(
    () => loadDataset("gauss1d:n=1000,test=0", { seed: 0, memoryLimit: 1000 }),
    "NQM3010",
    /about 15\.6 KiB .* limit of 1000 B/,
  );
  assert.equal(loadDataset("gauss1d:n=1000,test=0", { seed: 0, memoryLimit: 16_000 }).train.n, 1000);
  file("limit.csv", "a,b\n1,2\n");
  throwsNqm(() => loadDataset("csv:limit.csv", { seed: 0, cwd: dir, memoryLimit: 10 }), "NQM3010", /limit\.csv/);
});

test("data values beyond ±1e150 are data errors naming the value", () => {
  throwsNqm(() => loadDataset("single:x=1,y=1e300", { seed: 0 }), "NQM4003", /single: y: `1e300` is beyond/);
  throwsNqm(() => loadDataset("gauss1d:mean=-2e150", { seed: 0 }), "NQM4003", /gauss1d: mean: `-2e150` is beyond/);
  assert.equal(loadDataset("single:x=1e150,y=-1e150", { seed: 0 }).train.y[0], -1e150);
});

test("single: defaults and lists", () => {
  const one = loadDataset("single", { seed: 0 });
  assert.deepEqual(one.inputShape, [1]);
  assert.deepEqual([...one.train.x], [1]);
  assert.deepEqual([...one.train.y], [1]);
  assert.equal(one.test, undefined);
  const three = loadDataset("single:x=1/-2.5/3e-1,y=0", { seed: 0 });
  assert.deepEqual(three.inputShape, [3]);
  assert.deepEqual([...three.train.x], [1, -2.5, 0.3]);
  assert.deepEqual([...three.train.y], [0]);
  assert.equal(three.outputSize, 1);
  assert.equal(loadDataset("single:y=1/0", { seed: 0 }).outputSize, 2);
  throwsNqm(() => loadDataset("single:x=1/a", { seed: 0 }), "NQM4003", /`a`/, /x=1\/a/);
});

// ---------------------------------------------------------------- mnist

test("mnist: two classes give ±1 labels, balanced, disjoint train and test, pixels in [0, 1]", () => {
  const data = loadDataset("mnist:classes=0+1,n=128,test=2000", { seed: 5 });
  assert.deepEqual(data.inputShape, [784]);
  assert.equal(data.outputSize, 1);
  assert.equal(data.train.n, 128);
  assert.equal(data.test?.n, 2000);
  assert.equal([...data.train.y].filter((v) => v === -1).length, 64);
  assert.equal([...data.train.y].filter((v) => v === 1).length, 64);
  assert.ok(data.train.x.every((v) => v >= 0 && v <= 1));
  const trainKeys = new Set(Array.from({ length: data.train.n }, (_, i) => rowKey(data.train.x, i, 784)));
  const test = present(data.test);
  for (let i = 0; i < test.n; i++)
    assert.ok(!trainKeys.has(rowKey(test.x, i, 784)), `test row ${i} is also a train row`);
  // A known fact about MNIST: a 0 has far more ink than a 1, so label -1 (digit 0) is the heavier class.
  const ink = (label: number): number => {
    const sums: number[] = [];
    for (let i = 0; i < data.train.n; i++)
      if (data.train.y[i] === label) sums.push(mean(data.train.x.subarray(i * 784, (i + 1) * 784)));
    return mean(sums);
  };
  assert.ok(ink(-1) > 1.5 * ink(1), `ink of 0s ${ink(-1)} vs 1s ${ink(1)}`);
});

test("mnist: deterministic by seed; different seeds pick different examples", () => {
  const a = loadDataset("mnist:classes=3+5,n=20,test=20", { seed: 1 });
  const b = loadDataset("mnist:classes=3+5,train=20,test=20", { seed: 1 });
  const c = loadDataset("mnist:classes=3+5,n=20,test=20", { seed: 2 });
  assert.deepEqual(a.train.x, b.train.x);
  assert.deepEqual(a.test?.y, b.test?.y);
  assert.notDeepEqual(a.train.x, c.train.x);
});

test("mnist: many classes give one-hot labels", () => {
  const data = loadDataset("mnist:classes=all,n=50,test=0", { seed: 0 });
  assert.equal(data.outputSize, 10);
  assert.equal(data.test, undefined);
  const perClass = new Array<number>(10).fill(0);
  for (let i = 0; i < data.train.n; i++) {
    const row = data.train.y.subarray(i * 10, (i + 1) * 10);
    assert.equal(
      row.reduce((a, b) => a + b, 0),
      1,
    );
    const label = row.indexOf(1);
    perClass[label] = nth(perClass, label) + 1;
  }
  assert.deepEqual(perClass, new Array<number>(10).fill(5));
  const three = loadDataset("mnist:classes=7+2+9,n=9,test=3", { seed: 0 });
  assert.equal(three.outputSize, 3);
});

test("mnist: center, normalize and scale", () => {
  const centered = loadDataset("mnist:n=40,test=5,center=true", { seed: 0 });
  for (let p = 0; p < 784; p += 97) {
    let sum = 0;
    for (let i = 0; i < 40; i++) sum += nth(centered.train.x, i * 784 + p);
    assert.ok(Math.abs(sum / 40) < 1e-12);
  }
  const normalized = loadDataset("mnist:n=10,test=0,normalize=true,scale=3", { seed: 0 });
  for (let i = 0; i < 10; i++) {
    const image = normalized.train.x.subarray(i * 784, (i + 1) * 784);
    const norm = Math.sqrt(image.reduce((a, v) => a + v * v, 0));
    assert.ok(Math.abs(norm - 3) < 1e-12);
  }
});

test("mnist: asking for more examples than the classes hold is a clear error", () => {
  // digits 0 and 1 together hold 2128 examples in the mnist package
  loadDataset("mnist:classes=0+1,n=128,test=2000", { seed: 0 });
  throwsNqm(() => loadDataset("mnist:classes=0+1,n=129,test=2000", { seed: 0 }), "NQM4003", /2128/, /2129/);
  throwsNqm(() => loadDataset("mnist:classes=0", { seed: 0 }), "NQM4003", /one class/);
  throwsNqm(() => loadDataset("mnist:classes=0+x", { seed: 0 }), "NQM4003", /`x`/);
  throwsNqm(() => loadDataset("mnist:classes=4+4", { seed: 0 }), "NQM4003", /twice/);
  throwsNqm(() => loadDataset("mnist:n=3,train=4", { seed: 0 }), "NQM4003", /same option/);
});

// ---------------------------------------------------------------- csv

const dir = mkdtempSync(join(tmpdir(), "nqm-data-"));
function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

test("csv: the last column is the label by default; paths are relative to cwd", () => {
  file("simple.csv", "a,b,target\n1,2,3\n\n4, 5 ,6\r\n-1e2,0.5,+7\n");
  const data = loadDataset("csv:simple.csv", { seed: 0, cwd: dir });
  assert.deepEqual(data.inputShape, [2]);
  assert.equal(data.outputSize, 1);
  assert.equal(data.train.n, 3);
  assert.deepEqual([...data.train.x], [1, 2, 4, 5, -100, 0.5]);
  assert.deepEqual([...data.train.y], [3, 6, 7]);
  assert.equal(data.test, undefined);
});

test("csv: label by name, several labels, quoted header cells", () => {
  file("named.csv", '"y",x1,"x,2"\n1,10,100\n2,20,200\n');
  const data = loadDataset("csv:named.csv,label=y", { seed: 0, cwd: dir });
  assert.deepEqual([...data.train.x], [10, 100, 20, 200]);
  assert.deepEqual([...data.train.y], [1, 2]);
  const two = loadDataset("csv:path=named.csv,label=x1+y", { seed: 0, cwd: dir });
  assert.equal(two.outputSize, 2);
  assert.deepEqual([...two.train.y], [10, 1, 20, 2]);
  assert.deepEqual([...two.train.x], [100, 200]);
  throwsNqm(() => loadDataset("csv:named.csv,label=x3", { seed: 0, cwd: dir }), "NQM4003", /no column `x3`/);
  throwsNqm(() => loadDataset("csv:named.csv,label=yy", { seed: 0, cwd: dir }), "NQM4003", /did you mean `y`/);
});

test("csv: test split from a fraction (disjoint, seeded) or from a second file with columns in any order", () => {
  const rows = Array.from({ length: 20 }, (_, i) => `${i},${i % 2}`).join("\n");
  file("twenty.csv", `x,y\n${rows}\n`);
  const data = loadDataset("csv:twenty.csv,test=0.25", { seed: 4, cwd: dir });
  assert.equal(data.train.n, 15);
  assert.equal(data.test?.n, 5);
  const all = [...data.train.x, ...present(data.test).x].sort((a, b) => a - b);
  assert.deepEqual(
    all,
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.deepEqual(loadDataset("csv:twenty.csv,test=0.25", { seed: 4, cwd: dir }).test?.x, data.test?.x);
  file("swapped.csv", "y,x\n1,100\n0,200\n");
  const withFile = loadDataset("csv:twenty.csv,test=swapped.csv", { seed: 0, cwd: dir });
  assert.deepEqual([...present(withFile.test).x], [100, 200]);
  assert.deepEqual([...present(withFile.test).y], [1, 0]);
  file("other.csv", "x,z\n1,2\n");
  throwsNqm(() => loadDataset("csv:twenty.csv,test=other.csv", { seed: 0, cwd: dir }), "NQM4003", /lacks y/, /extra z/);
  throwsNqm(() => loadDataset("csv:twenty.csv,test=1.5", { seed: 0, cwd: dir }), "NQM4003", /fraction/);
});

test("csv: errors name the file and line", () => {
  file("word.csv", "a,b\n1,2\n3,abc\n");
  throwsNqm(
    () => loadDataset("csv:word.csv", { seed: 0, cwd: dir }),
    "NQM4003",
    /^invalid data set: word\.csv:3: `abc` in column `b` is not a number/,
  );
  file("ragged.csv", "a,b,c\n1,2,3\n\n4,5\n");
  throwsNqm(
    () => loadDataset("csv:ragged.csv", { seed: 0, cwd: dir }),
    "NQM4003",
    /ragged\.csv:4: 2 cells, but the header has 3 columns/,
  );
  file("empty-cell.csv", "a,b\n1,\n");
  throwsNqm(
    () => loadDataset("csv:empty-cell.csv", { seed: 0, cwd: dir }),
    "NQM4003",
    /empty-cell\.csv:2: empty cell in column `b`/,
  );
  file("nan.csv", "a,b\n1,2\nNaN,3\n");
  throwsNqm(() => loadDataset("csv:nan.csv", { seed: 0, cwd: dir }), "NQM4006", /`NaN` in column `a`/, /nan\.csv:3/);
  throwsNqm(
    () => loadDataset("csv:missing.csv", { seed: 0, cwd: dir }),
    "NQM4003",
    /missing\.csv: cannot read the file: no such file or folder \(ENOENT\)/,
  );
  file("huge.csv", "a,b\n1,2\n3,1e308\n");
  throwsNqm(
    () => loadDataset("csv:huge.csv", { seed: 0, cwd: dir }),
    "NQM4003",
    /huge\.csv:3: `1e308` in column `b` is beyond ±1e\+150/,
  );
  file("unclosed.csv", 'a,b\n1,2\n"3,4\n');
  throwsNqm(() => loadDataset("csv:unclosed.csv", { seed: 0, cwd: dir }), "NQM4003", /unclosed\.csv:\d+: .*quote/i);
  file("noheader.csv", "1,2\n3,4\n");
  throwsNqm(() => loadDataset("csv:noheader.csv", { seed: 0, cwd: dir }), "NQM4003", /noheader\.csv:1: .*header/);
  file("onlyheader.csv", "a,b\n");
  throwsNqm(() => loadDataset("csv:onlyheader.csv", { seed: 0, cwd: dir }), "NQM4003", /no data rows/);
  throwsNqm(() => loadDataset("csv", { seed: 0, cwd: dir }), "NQM4003", /csv needs a file/);
});

// ---------------------------------------------------------------- spec validation

test("spec validation: unknown kinds, keys and bad values name the offending part", () => {
  throwsNqm(() => loadDataset("gaus1d", { seed: 0 }), "NQM4003", /unknown kind `gaus1d`; did you mean `gauss1d`\?/);
  throwsNqm(() => loadDataset("svhn", { seed: 0 }), "NQM4003", /unknown kind `svhn`/, /kinds: gauss1d/);
  throwsNqm(() => loadDataset("cifar", { seed: 0 }), "NQM4003", /cifar: expected one folder/);
  throwsNqm(() => loadDataset("train.csv", { seed: 0 }), "NQM4003", /write csv:train\.csv/);
  throwsNqm(
    () => loadDataset("mnist:clases=0+1", { seed: 0 }),
    "NQM4003",
    /no option `clases`; did you mean `classes`\?/,
  );
  throwsNqm(() => loadDataset("gauss1d:n=abc", { seed: 0 }), "NQM4003", /n=abc is not an integer/);
  throwsNqm(() => loadDataset("gauss1d:n=0", { seed: 0 }), "NQM4003", /n=0 must be at least 1/);
  throwsNqm(() => loadDataset("gauss1d:n=1.5", { seed: 0 }), "NQM4003", /n=1\.5 is not an integer/);
  throwsNqm(() => loadDataset("gauss1d:std=-1", { seed: 0 }), "NQM4003", /std=-1 must be positive/);
  throwsNqm(() => loadDataset("gauss1d:mean=0x10", { seed: 0 }), "NQM4003", /mean=0x10 is not a number/);
  throwsNqm(() => loadDataset("gauss1d:n=3,n=4", { seed: 0 }), "NQM4003", /`n` is given twice/);
  throwsNqm(() => loadDataset("gauss1d:n=3,", { seed: 0 }), "NQM4003", /empty option/);
  throwsNqm(() => loadDataset("gauss1d:128", { seed: 0 }), "NQM4003", /`128` is not key=value/);
  throwsNqm(() => loadDataset("mnist:center=maybe", { seed: 0 }), "NQM4003", /center=maybe must be true or false/);
  throwsNqm(() => loadDataset("  ", { seed: 0 }), "NQM4003", /empty/);
});

test("DATASET_HELP documents every kind", () => {
  for (const kind of DATASET_KINDS) assert.match(DATASET_HELP, new RegExp(`^  ${kind} `, "m"));
});
