/**
 * The file data sets (npy, npz, idx, cifar) on small files each test writes under the OS temp
 * folder: values, labels, class selection, n/test limits, transforms, and a located error for
 * each malformed file. Expected values are worked out by hand from what the files hold.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { NqmError } from "../../foundation/diagnostics.ts";
import { loadDataset, type Dataset } from "../../runtime/data/index.ts";
import { checkInputShape } from "../../runtime/data/shape.ts";
import { openSession } from "../../runtime/session.ts";
import { cifarBatch, idx, npy, put, tempFolder, zip } from "../support/data-files.ts";
import { nth, present } from "../support/entries.ts";

const DIR = tempFolder("data-files");

function load(spec: string, options: { seed?: number; memoryLimit?: number } = {}): Dataset {
  return loadDataset(spec, { seed: options.seed ?? 0, cwd: DIR, ...options });
}

/** Asserts that `run` throws an NqmError with `code` whose message matches every pattern. */
function throwsNqm(run: () => unknown, code: string, ...patterns: RegExp[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof NqmError, `expected NqmError, got ${String(error)}`);
    const diagnostic = nth(error.diagnostics, 0);
    assert.equal(diagnostic.code, code, diagnostic.message);
    for (const pattern of patterns) assert.match(diagnostic.message, pattern);
    return true;
  });
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---------------------------------------------------------------- npy

// Six examples of two features, row i = (i, 10 + i), labels 0, 1, 2, 0, 1, 2.
put(
  DIR,
  "x6.npy",
  npy(
    "<f8",
    [6, 2],
    range(6).flatMap((i) => [i, 10 + i]),
  ),
);
put(DIR, "y6.npy", npy("<i8", [6], [0, 1, 2, 0, 1, 2]));

test("npy: float64 inputs in file order, three integer classes one-hot", () => {
  const data = load("npy:x6.npy,y6.npy");
  assert.deepEqual(data.inputShape, [2]);
  assert.equal(data.imageShape, undefined);
  assert.equal(data.outputSize, 3);
  assert.equal(data.train.n, 6);
  assert.equal(data.test, undefined);
  assert.deepEqual([...data.train.x], [0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15]);
  assert.deepEqual([...data.train.y], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.equal(data.name, "npy:x6.npy,y6.npy,classes=0+1+2,n=6,test=0,scale=1,center=false,normalize=false");
});

test("npy: classes=0+2 keeps those examples and labels them -1/+1 (first class -1)", () => {
  const data = load("npy:x6.npy,y6.npy,classes=0+2");
  assert.equal(data.outputSize, 1);
  assert.deepEqual([...data.train.x], [0, 10, 2, 12, 3, 13, 5, 15]);
  assert.deepEqual([...data.train.y], [-1, 1, -1, 1]);
  const reversed = load("npy:x6.npy,y6.npy,classes=2+0");
  assert.deepEqual([...reversed.train.y], [1, -1, 1, -1]);
  throwsNqm(() => load("npy:x6.npy,y6.npy,classes=0+7"), "NQM4003", /class 7 has no examples in y6\.npy/);
  throwsNqm(() => load("npy:x6.npy,y6.npy,classes=1"), "NQM4003", /classes=1 names one class/);
  throwsNqm(() => load("npy:x6.npy,y6.npy,classes=a+b"), "NQM4003", /class `a` in classes=a\+b is not a whole number/);
});

// Twenty examples x = i with labels i mod 2 (int32).
put(DIR, "x20.npy", npy("<f8", [20, 1], range(20)));
put(
  DIR,
  "y20.npy",
  npy(
    "<i4",
    [20],
    range(20).map((i) => i % 2),
  ),
);

test("npy: n= and test= draw balanced, disjoint splits from the training arrays, fixed by the seed", () => {
  const data = load("npy:x20.npy,y20.npy,n=6,test=4", { seed: 3 });
  assert.equal(data.train.n, 6);
  assert.equal(data.test?.n, 4);
  const train = [...data.train.x];
  const test = [...present(data.test, "the test split").x];
  for (const [xs, ys] of [
    [train, data.train.y],
    [test, present(data.test, "the test split").y],
  ] as const) {
    // File order, labels matching each example's parity (even: class 0, -1).
    assert.deepEqual(
      xs,
      [...xs].sort((a, b) => a - b),
    );
    xs.forEach((x, i) => assert.equal(ys[i], x % 2 === 0 ? -1 : 1));
  }
  assert.equal(train.filter((x) => x % 2 === 0).length, 3);
  assert.equal(test.filter((x) => x % 2 === 0).length, 2);
  assert.deepEqual(
    train.filter((x) => test.includes(x)),
    [],
  );
  assert.deepEqual([...load("npy:x20.npy,y20.npy,n=6,test=4", { seed: 3 }).train.x], train);
  const other = [0, 1, 2, 4, 5].map((seed) => [...load("npy:x20.npy,y20.npy,n=6,test=4", { seed }).train.x].join());
  assert.ok(
    other.some((picks) => picks !== train.join()),
    "every seed picked the same examples",
  );
  // train= is the alias of n=, and without n= the training split is what test= leaves.
  assert.equal(load("npy:x20.npy,y20.npy,train=5").train.n, 5);
  assert.equal(load("npy:x20.npy,y20.npy,test=5").train.n, 15);
  throwsNqm(() => load("npy:x20.npy,y20.npy,n=18,test=4"), "NQM4003", /holds 20 examples .*n=18 and test=4 need 22/);
});

test("npy: four files give the test split; test= limits it", () => {
  put(DIR, "tx.npy", npy("<f8", [4, 2], [100, 110, 101, 111, 102, 112, 103, 113]));
  put(DIR, "ty.npy", npy("<i8", [4], [2, 0, 0, 1]));
  const data = load("npy:x6.npy,y6.npy,tx.npy,ty.npy");
  assert.equal(data.train.n, 6);
  assert.deepEqual([...present(data.test, "the test split").x], [100, 110, 101, 111, 102, 112, 103, 113]);
  assert.deepEqual([...present(data.test, "the test split").y], [0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0]);
  const two = load("npy:x6.npy,y6.npy,tx.npy,ty.npy,classes=0+2");
  assert.deepEqual([...present(two.test, "the test split").x], [100, 110, 101, 111, 102, 112]);
  assert.deepEqual([...present(two.test, "the test split").y], [1, -1, -1]);
  assert.equal(load("npy:x6.npy,y6.npy,tx.npy,ty.npy,test=0").test, undefined);
  throwsNqm(() => load("npy:x6.npy,y6.npy,tx.npy,ty.npy,test=5"), "NQM4003", /test=5, but tx\.npy holds 4 examples/);
  throwsNqm(() => load("npy:x6.npy,y6.npy,tx.npy"), "NQM4003", /expected 2 files .* or 4 .* but found 3/);
});

test("npy: float labels are targets as stored; classes= takes whole-number float labels", () => {
  put(DIR, "yf.npy", npy("<f8", [6], [0.5, -1.25, 2, 0, 3.5, 1]));
  const data = load("npy:x6.npy,yf.npy");
  assert.equal(data.outputSize, 1);
  assert.deepEqual([...data.train.y], [0.5, -1.25, 2, 0, 3.5, 1]);
  put(
    DIR,
    "yf2.npy",
    npy(
      "<f4",
      [6, 2],
      range(12).map((i) => i / 4),
    ),
  );
  const pairs = load("npy:x6.npy,yf2.npy");
  assert.equal(pairs.outputSize, 2);
  assert.deepEqual(
    [...pairs.train.y],
    range(12).map((i) => i / 4),
  );
  put(DIR, "yw.npy", npy("<f8", [6], [1, 0, 1, 0, 1, 0]));
  assert.deepEqual([...load("npy:x6.npy,yw.npy,classes=0+1").train.y], [1, -1, 1, -1, 1, -1]);
  throwsNqm(
    () => load("npy:x6.npy,yf.npy,classes=0+2"),
    "NQM4003",
    /whole-number labels, but label 0 of yf\.npy is 0\.5/,
  );
  throwsNqm(
    () => load("npy:x6.npy,yf2.npy,classes=0+1"),
    "NQM4003",
    /one class label per example, but yf2\.npy holds float32 labels of shape \(6, 2\)/,
  );
});

test("npy: float32, uint8, int8, int16 inputs keep their values; header versions 1, 2 and 3 read alike", () => {
  const y2 = put(DIR, "y2.npy", npy("<i8", [2], [0, 1]));
  const cases: Array<[string, number[]]> = [
    ["<f4", [0.5, -0.25, 1.5, 3]],
    ["|u1", [0, 255, 7, 128]],
    ["|i1", [-128, 127, 0, -1]],
    ["<i2", [-300, 300, 2, 1]],
  ];
  for (const [descr, values] of cases) {
    put(DIR, "xt.npy", npy(descr, [2, 2], values));
    assert.deepEqual([...load(`npy:xt.npy,${y2}`).train.x], values, descr);
  }
  for (const version of [1, 2, 3] as const) {
    put(DIR, `xv${version}.npy`, npy("<f8", [2, 2], [1, 2, 3, 4], { version }));
    assert.deepEqual([...load(`npy:xv${version}.npy,${y2}`).train.x], [1, 2, 3, 4], `version ${version}`);
  }
});

// Three 2×2 images with labels 4, 9, 4.
put(DIR, "img.npy", npy("<f4", [3, 2, 2], range(12)));
put(DIR, "img-y.npy", npy("|u1", [3], [4, 9, 4]));

test("npy: examples of rank 2 or more keep their shape as the image shape, flattened for the model", () => {
  const data = load("npy:img.npy,img-y.npy");
  assert.deepEqual(data.imageShape, [2, 2]);
  assert.deepEqual(data.inputShape, [4]);
  assert.deepEqual([...data.train.x], range(12));
  assert.deepEqual([...data.train.y], [-1, 1, -1]);
  assert.match(data.description, /examples of shape \[2, 2\]; class 4 → −1, class 9 → \+1/);
});

test("npy: center, normalize and scale apply in that order, with the training mean", () => {
  put(DIR, "xc.npy", npy("<f8", [2, 2], [1, 3, 3, 5]));
  put(DIR, "yc.npy", npy("<i8", [2], [0, 1]));
  put(DIR, "xct.npy", npy("<f8", [1, 2], [4, 4]));
  put(DIR, "yct.npy", npy("<i8", [1], [1]));
  const data = load("npy:xc.npy,yc.npy,xct.npy,yct.npy,center=true,normalize=true,scale=2");
  // Mean (2, 4): rows (-1, -1) and (1, 1), unit norm ±(1/√2, 1/√2), times 2.
  const r = Math.SQRT2;
  const x = [...data.train.x];
  [-r, -r, r, r].forEach((v, i) => assert.ok(Math.abs(nth(x, i) - v) < 1e-15, `${x[i]} vs ${v}`));
  // The test example (4, 4) centred by the training mean is (2, 0), unit (1, 0), scaled (2, 0).
  assert.deepEqual([...present(data.test, "the test split").x], [2, 0]);
  assert.deepEqual([...load("npy:xc.npy,yc.npy,center=true").train.x], [-1, -1, 1, 1]);
  assert.deepEqual([...load("npy:xc.npy,yc.npy,scale=0.5").train.x], [0.5, 1.5, 1.5, 2.5]);
});

test("npy: each malformed or unsupported file gets its located error", () => {
  const y2 = put(DIR, "y2b.npy", npy("<i8", [2], [0, 1]));
  put(DIR, "magic.npy", Buffer.from("PK\x03\x04 not numpy at all"));
  throwsNqm(
    () => load(`npy:magic.npy,${y2}`),
    "NQM4009",
    /magic\.npy: bytes 0–5: magic 50 4b 03 04 20 6e, not a NumPy \.npy header/,
  );
  // (100, 784) float64 needs 627,200 bytes after the 128-byte header; give it 100 values.
  const short = Buffer.concat([npy("<f8", [100, 784], []), Buffer.alloc(800)]);
  put(DIR, "short.npy", short);
  throwsNqm(
    () => load(`npy:short.npy,${y2}`),
    "NQM4009",
    /short\.npy: byte 128: header says shape \(100, 784\) of float64 \(627,200 bytes\), the file holds 800 bytes/,
  );
  put(DIR, "long.npy", Buffer.concat([npy("<f8", [2, 1], [1, 2]), Buffer.alloc(3)]));
  throwsNqm(() => load(`npy:long.npy,${y2}`), "NQM4009", /long\.npy: byte 144: 3 bytes after the data/);
  put(DIR, "cut-header.npy", npy("<f8", [2, 1], [1, 2]).subarray(0, 40));
  throwsNqm(() => load(`npy:cut-header.npy,${y2}`), "NQM4009", /byte 8: the header is said to be 118 bytes long/);
  put(DIR, "complex.npy", npy("<c16", [2, 1], [1, 2]));
  throwsNqm(
    () => load(`npy:complex.npy,${y2}`),
    "NQM4010",
    /complex\.npy: bytes 10–127: the element type is complex128; nqm reads float64, float32/,
  );
  put(
    DIR,
    "half.npy",
    npy("<f4", [2, 1], [1, 2], { header: "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }" }),
  );
  throwsNqm(() => load(`npy:half.npy,${y2}`), "NQM4010", /the element type is float16/);
  put(DIR, "fortran.npy", npy("<f8", [2, 2], [1, 2, 3, 4], { fortran: true }));
  throwsNqm(
    () => load(`npy:fortran.npy,${y2}`),
    "NQM4010",
    /fortran\.npy: .*Fortran \(column-major\) order; save it in C order/,
  );
  put(DIR, "big.npy", npy(">f4", [2, 2], [1, 2, 3, 4]));
  throwsNqm(() => load(`npy:big.npy,${y2}`), "NQM4010", /big-endian \('>f4'\)/);
  put(DIR, "noshape.npy", npy("<f8", [2, 1], [1, 2], { header: "{'descr': '<f8', 'fortran_order': False, }" }));
  throwsNqm(() => load(`npy:noshape.npy,${y2}`), "NQM4009", /the header has no 'shape'/);
  const v4 = npy("<f8", [2, 1], [1, 2]);
  v4[6] = 4;
  put(DIR, "v4.npy", v4);
  throwsNqm(() => load(`npy:v4.npy,${y2}`), "NQM4010", /byte 6: \.npy format version 4\.0/);
  put(DIR, "x3.npy", npy("<f8", [3, 1], [1, 2, 3]));
  throwsNqm(
    () => load(`npy:x3.npy,${y2}`),
    "NQM4009",
    /y2b\.npy: it holds 2 labels \(shape \(2,\)\), but x3\.npy holds 3 examples/,
  );
  put(DIR, "nan.npy", npy("<f8", [2, 1], [1, Number.NaN]));
  throwsNqm(() => load(`npy:nan.npy,${y2}`), "NQM4006", /NaN is not a finite number at nan\.npy, example 1, entry 0/);
  put(DIR, "huge.npy", npy("<f8", [2, 1], [1, 1e200]));
  throwsNqm(() => load(`npy:huge.npy,${y2}`), "NQM4003", /huge\.npy, example 1, entry 0: 1e\+200 is beyond ±1e\+150/);
  put(DIR, "tx3.npy", npy("<f8", [2, 3], range(6)));
  throwsNqm(
    () => load(`npy:x6.npy,y6.npy,tx3.npy,${y2}`),
    "NQM4009",
    /tx3\.npy: its examples have shape \[3\], but the training examples \(x6\.npy\) have \[2\]/,
  );
  throwsNqm(() => load("npy:absent.npy,y6.npy"), "NQM4003", /absent\.npy: cannot read the file: no such file/);
  throwsNqm(() => load("x6.npy"), "NQM4003", /write npy:x6\.npy,LABELS\.npy/);
});

test("npy: a file over the memory limit is refused before it is read, and so are the converted examples", () => {
  throwsNqm(
    () => load("npy:x20.npy,y20.npy", { memoryLimit: 100 }),
    "NQM3010",
    /the data file x20\.npy would need about/,
  );
  // The files hold 288 + 208 bytes; 20 examples of 1 feature and 1 label as doubles add 320.
  throwsNqm(() => load("npy:x20.npy,y20.npy", { memoryLimit: 700 }), "NQM3010", /n=20 and test=0 would need/);
  assert.equal(load("npy:x20.npy,y20.npy", { memoryLimit: 900 }).train.n, 20);
});

// ---------------------------------------------------------------- npz

const NPZ_MEMBERS = {
  "x_train.npy": npy("|u1", [4, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  "y_train.npy": npy("<i8", [4], [0, 1, 0, 1]),
  "x_test.npy": npy("|u1", [2, 3], [20, 21, 22, 23, 24, 25]),
  "y_test.npy": npy("<i8", [2], [1, 0]),
};

test("npz: stored and deflated archives give the same arrays", () => {
  for (const method of [0, 8] as const) {
    const name = `set${method}.npz`;
    put(DIR, name, zip(NPZ_MEMBERS, method));
    const data = load(`npz:${name}`);
    assert.deepEqual([...data.train.x], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], `method ${method}`);
    assert.deepEqual([...data.train.y], [-1, 1, -1, 1]);
    assert.deepEqual([...present(data.test, "the test split").x], [20, 21, 22, 23, 24, 25]);
    assert.deepEqual([...present(data.test, "the test split").y], [1, -1]);
    assert.equal(load(`npz:${name},n=2,test=1`).train.n, 2);
  }
  const { "x_test.npy": _x, "y_test.npy": _y, ...trainOnly } = NPZ_MEMBERS;
  put(DIR, "train-only.npz", zip(trainOnly, 8));
  assert.equal(load("npz:train-only.npz").test, undefined);
});

test("npz: missing arrays, damaged archives and unknown compression get located errors", () => {
  put(DIR, "no-y.npz", zip({ "x_train.npy": NPZ_MEMBERS["x_train.npy"] }, 0));
  throwsNqm(() => load("npz:no-y.npz"), "NQM4009", /no-y\.npz: it has no array `y_train` \(it holds: x_train\)/);
  const { "y_test.npy": _y, ...noYTest } = NPZ_MEMBERS;
  put(DIR, "no-ytest.npz", zip(noYTest, 0));
  throwsNqm(() => load("npz:no-ytest.npz"), "NQM4009", /it has x_test but no y_test/);
  put(DIR, "plain.npz", NPZ_MEMBERS["x_train.npy"]);
  throwsNqm(() => load("npz:plain.npz"), "NQM4009", /plain\.npz: bytes 0–3: not a zip archive/);
  const whole = zip(NPZ_MEMBERS, 8);
  put(DIR, "cut.npz", whole.subarray(0, whole.length - 30));
  throwsNqm(() => load("npz:cut.npz"), "NQM4009", /cut\.npz: .*the file was cut short/);
  const damaged = zip(NPZ_MEMBERS, 0);
  const pixelAt = 30 + "x_train.npy".length + 130; // a pixel of x_train
  damaged[pixelAt] = nth(damaged, pixelAt) ^ 0xff;
  put(DIR, "damaged.npz", damaged);
  throwsNqm(() => load("npz:damaged.npz"), "NQM4009", /x_train\.npy fails its CRC-32 check/);
  const bzip = zip(NPZ_MEMBERS, 0);
  const directory = bzip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  bzip.writeUInt16LE(12, directory + 10);
  put(DIR, "bzip.npz", bzip);
  throwsNqm(() => load("npz:bzip.npz"), "NQM4010", /x_train\.npy is compressed with method 12/);
  put(DIR, "fortran.npz", zip({ ...NPZ_MEMBERS, "x_train.npy": npy("<f8", [4, 3], range(12), { fortran: true }) }, 8));
  throwsNqm(() => load("npz:fortran.npz"), "NQM4010", /fortran\.npz:x_train\.npy: .*Fortran/);
  put(DIR, "counts.npz", zip({ ...NPZ_MEMBERS, "y_train.npy": npy("<i8", [3], [0, 1, 0]) }, 8));
  throwsNqm(() => load("npz:counts.npz"), "NQM4009", /counts\.npz:y_train\.npy: it holds 3 labels .* holds 4 examples/);
  throwsNqm(() => load("npz:a.npz,b.npz"), "NQM4003", /npz: expected one file but found 2/);
});

// ---------------------------------------------------------------- idx

// Four 2×3 images, pixel k of image i = 10·(6i + k); labels 3, 5, 3, 5.
const IDX_IMAGES = idx(
  "uint8",
  [4, 2, 3],
  range(24).map((v) => 10 * v),
);
const IDX_LABELS = idx("uint8", [4], [3, 5, 3, 5]);

test("idx: raw and gzipped files give byte pixels in [0, 1], labels and the image shape", () => {
  put(DIR, "images.idx3-ubyte", IDX_IMAGES);
  put(DIR, "labels.idx1-ubyte", IDX_LABELS);
  put(DIR, "images.idx3-ubyte.gz", gzipSync(IDX_IMAGES));
  put(DIR, "labels.idx1-ubyte.gz", gzipSync(IDX_LABELS));
  for (const suffix of ["", ".gz"]) {
    const data = load(`idx:images.idx3-ubyte${suffix},labels.idx1-ubyte${suffix}`);
    assert.deepEqual(data.imageShape, [2, 3]);
    assert.deepEqual(data.inputShape, [6]);
    assert.deepEqual(
      [...data.train.x],
      range(24).map((v) => (10 * v) / 255),
    );
    assert.deepEqual([...data.train.y], [-1, 1, -1, 1]);
  }
  put(
    DIR,
    "t-images.idx",
    idx(
      "uint8",
      [2, 2, 3],
      range(12).map((v) => 255 - v),
    ),
  );
  put(DIR, "t-labels.idx", idx("uint8", [2], [5, 5]));
  const withTest = load("idx:images.idx3-ubyte,labels.idx1-ubyte.gz,t-images.idx,t-labels.idx,n=2");
  assert.deepEqual([...present(withTest.test, "the test split").y], [1, 1]);
  assert.equal(present(withTest.test, "the test split").x[0], 1);
  assert.equal(withTest.train.n, 2);
  // Float images are kept as stored.
  put(DIR, "f-images.idx", idx("float32", [4, 1], [0.5, -2, 3.25, 8]));
  assert.deepEqual([...load("idx:f-images.idx,labels.idx1-ubyte").train.x], [0.5, -2, 3.25, 8]);
});

test("idx: bad magic, truncated data, damaged gzip and mismatched counts get located errors", () => {
  const labels = put(DIR, "lab.idx", IDX_LABELS);
  const badMagic = Buffer.from(IDX_IMAGES);
  badMagic[0] = 1;
  put(DIR, "bad-magic.idx", badMagic);
  throwsNqm(
    () => load(`idx:bad-magic.idx,${labels}`),
    "NQM4009",
    /bad-magic\.idx: bytes 0–3: magic 01 00 08 03, not an IDX header/,
  );
  // The header says 60000 images of 28×28; the file holds 1000 of them.
  const short = Buffer.concat([idx("uint8", [60000, 28, 28], []), Buffer.alloc(1000 * 784)]);
  put(DIR, "short.idx.gz", gzipSync(short));
  throwsNqm(
    () => load(`idx:short.idx.gz,${labels}`),
    "NQM4009",
    /short\.idx\.gz: byte 16: header says 60000 images of 28×28, the file holds 1000 \(784,000 bytes of uint8 after the header, not 47,040,000\)/,
  );
  const zipped = gzipSync(IDX_IMAGES);
  put(DIR, "cut.idx.gz", zipped.subarray(0, zipped.length - 12));
  throwsNqm(() => load(`idx:cut.idx.gz,${labels}`), "NQM4009", /cut\.idx\.gz: the gzip data is damaged or cut short/);
  put(DIR, "three.idx", idx("uint8", [3], [3, 5, 3]));
  throwsNqm(
    () => load("idx:images.idx3-ubyte,three.idx"),
    "NQM4009",
    /three\.idx: it holds 3 labels \(shape \(3,\)\), but images\.idx3-ubyte holds 4 examples/,
  );
  throwsNqm(
    () => load("idx:images.idx3-ubyte,images.idx3-ubyte"),
    "NQM4009",
    /a labels file has 1 dimension, this one 3/,
  );
  put(DIR, "cut-header.idx", IDX_IMAGES.subarray(0, 9));
  throwsNqm(
    () => load(`idx:cut-header.idx,${labels}`),
    "NQM4009",
    /the file ends inside the header's 3 dimension sizes/,
  );
});

// ---------------------------------------------------------------- cifar

/** Pixel k of record r in batch b (1–5, or 6 for the test batch). */
const pixel = (b: number) => (r: number, k: number) => (7 * b + 3 * r + k) % 256;

test("cifar: five batches and a test batch; the default classes are the paper's CIFAR-2 (0 and 2)", () => {
  const folder = "cifar-10-batches-bin";
  for (let b = 1; b <= 5; b++) put(DIR, `${folder}/data_batch_${b}.bin`, cifarBatch([0, 2, 1], pixel(b)));
  put(DIR, `${folder}/test_batch.bin`, cifarBatch([2, 9, 0], pixel(6)));
  for (const spec of [`cifar:${folder}`, "cifar:."]) {
    const data = load(spec);
    assert.deepEqual(data.imageShape, [3, 32, 32]);
    assert.deepEqual(data.inputShape, [3072]);
    assert.equal(data.train.n, 10);
    assert.deepEqual([...data.train.y], [-1, 1, -1, 1, -1, 1, -1, 1, -1, 1]);
    // Example 3 is record 1 (label 2) of batch 2: red, green and blue planes in order.
    for (const k of [0, 1, 1023, 1024, 2048, 3071])
      assert.equal(data.train.x[3 * 3072 + k], pixel(2)(1, k) / 255, `pixel ${k}`);
    assert.equal(present(data.test, "the test split").n, 2);
    assert.deepEqual([...present(data.test, "the test split").y], [1, -1]);
    assert.equal(present(data.test, "the test split").x[0], pixel(6)(0, 0) / 255);
  }
  const named = load(`cifar:${folder},classes=bird+automobile,n=4,test=0`);
  assert.deepEqual([...named.train.y].sort(), [-1, -1, 1, 1]);
  assert.match(named.description, /class bird → −1, class automobile → \+1/);
  const three = load(`cifar:${folder},classes=all`);
  assert.equal(three.outputSize, 3);
  assert.equal(three.train.n, 15);
  throwsNqm(() => load(`cifar:${folder},classes=cat+dog`), "NQM4003", /class cat has no examples/);
  throwsNqm(
    () => load(`cifar:${folder},classes=bird+horse2`),
    "NQM4003",
    /class `horse2` .* is not a class number or one of airplane/,
  );
});

test("cifar: a partial record, a label beyond 9 and a folder without batches get located errors", () => {
  put(DIR, "cut/data_batch_1.bin", Buffer.concat([cifarBatch([0, 2], pixel(1)), Buffer.alloc(100)]));
  throwsNqm(
    () => load("cifar:cut"),
    "NQM4009",
    /cut\/data_batch_1\.bin: byte 6146: record 3 is cut short after 100 bytes/,
  );
  put(DIR, "labels/data_batch_1.bin", cifarBatch([0, 12], pixel(1)));
  throwsNqm(() => load("cifar:labels"), "NQM4009", /byte 3073: record 2 has label 12; CIFAR-10 labels are 0–9/);
  put(DIR, "empty/readme.txt", Buffer.from("nothing here"));
  throwsNqm(() => load("cifar:empty"), "NQM4003", /empty holds no data_batch_1\.bin/);
  throwsNqm(() => load("cifar:nowhere"), "NQM4003", /nowhere is not a folder/);
});

// ---------------------------------------------------------------- the model's input

test("an image fits a model input of its flattened size or its own shape; anything else names both shapes", () => {
  const data: Dataset = {
    name: "images",
    description: "",
    inputShape: [784],
    imageShape: [28, 28],
    outputSize: 1,
    train: { n: 1, x: new Float64Array(784), y: new Float64Array(1) },
  };
  checkInputShape(data, "x", [784]);
  checkInputShape(data, "x", [28, 28]);
  throwsNqm(
    () => checkInputShape(data, "x", [100]),
    "NQM4004",
    /the data's inputs have shape \[28, 28\] \(784 values, flattened to \[784\]\), but the model's input `x` has shape \[100\]/,
  );
  throwsNqm(() => checkInputShape(data, "x", [14, 56]), "NQM4004", /`x` has shape \[14, 56\] \(784 values\)/);
  throwsNqm(() => checkInputShape({ ...data, imageShape: undefined }, "x", [28, 28]), "NQM4004", /shape \[784\], but/);
});

test("training on an image set whose size differs from the model's input is refused before compiling", async () => {
  const source = "model m {\n  dim d = 1\n  input x: [d]\n  param w: [d] ~ normal(0, 1)\n  output dot(w, x)\n}\n";
  await assert.rejects(
    openSession({ file: "m.nqm", source, set: { d: 5 }, data: "npy:img.npy,img-y.npy", dataSeed: 0, cwd: DIR }),
    (error: unknown) => {
      assert.ok(error instanceof NqmError);
      assert.equal(nth(error.diagnostics, 0).code, "NQM4004");
      assert.match(
        nth(error.diagnostics, 0).message,
        /shape \[2, 2\] \(4 values, flattened to \[4\]\), but the model's input `x` has shape \[5\]/,
      );
      return true;
    },
  );
});
