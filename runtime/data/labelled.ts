/**
 * From arrays read out of files (NumPy, IDX, CIFAR) to a data set, the same way for every format:
 *
 * - Labels: an integer y of one value per example holds classes; `classes=` picks some (default:
 *   every class present), two classes give ±1 (the first −1), more give one-hot. A float y is a
 *   target used as is, unless `classes=` is given and its values are whole numbers.
 * - Selection: `n=` training examples (default: all) and `test=` test examples (default: all of
 *   the test arrays, or none without them; from the training arrays when there are none, disjoint
 *   from the training examples). With classes, examples are taken as evenly across classes as
 *   the counts allow. Which examples is fixed by the seed; the kept ones stay in file order.
 * - Features: `center` subtracts the training mean, `normalize` scales each example to unit norm,
 *   `scale` multiplies, in that order, as for mnist.
 */
import { defined } from "../../foundation/defined.ts";
import { fail } from "../../foundation/diagnostics.ts";
import { formatShape } from "../../foundation/shape.ts";
import { checkMemory } from "../memory.ts";
import { deriveSeed, Rng } from "../rng.ts";
import { isIntegerType, type NumericArray, sizeOfShape, tupleText } from "./arrays.ts";
import { malformed } from "./binary.ts";
import { allocate } from "./mnist.ts";
import { DATA_MAGNITUDE_LIMIT, type OptionReader } from "./options.ts";
import type { Dataset, Split } from "./types.ts";

/** The options of every file kind (npy, npz, idx, cifar). */
export const FILE_DATASET_OPTIONS = ["classes", "n", "train", "test", "scale", "center", "normalize"] as const;
export const FILE_DATASET_ALIASES = { train: "n" } as const;

/** Inputs and labels of one split, as read from the files: x is [examples, ...], y is [examples, ...]. */
export interface Examples {
  readonly x: NumericArray;
  readonly y: NumericArray;
}

/** What a file kind hands to buildFileDataset. */
export interface FileDatasetSource {
  readonly kind: string;
  /** The files as the user named them, for the data set's name. */
  readonly files: readonly string[];
  /** Where the examples come from, for the description. */
  readonly what: string;
  readonly train: Examples;
  readonly test?: Examples;
  readonly options: OptionReader;
  readonly seed: number;
  readonly memoryLimit: number;
  /** Bytes of the files already held, counted against the memory limit. */
  readonly held: number;
  /** Raw features are divided by this first (255 puts byte pixels in [0, 1]). */
  readonly pixelDivisor?: number;
  /** Class names by label, accepted in `classes=` (CIFAR-10's airplane, automobile, …). */
  readonly classNames?: readonly string[];
  readonly defaultClasses?: readonly number[];
}

type Labels = { kind: "classes"; classes: number[] } | { kind: "targets"; size: number };

/** Selects, labels and transforms the examples of `source` as its options say. */
export function buildFileDataset(source: FileDatasetSource): Dataset {
  const { kind, options, seed } = source;
  checkExamples(source.train);
  if (source.test) {
    checkExamples(source.test);
    const trainSample = source.train.x.shape.slice(1);
    const testSample = source.test.x.shape.slice(1);
    if (!sameSizes(trainSample, testSample))
      malformed(
        source.test.x.path,
        `its examples have shape ${formatShape(testSample)}, but the training examples (${source.train.x.path}) have ${formatShape(trainSample)}`,
      );
    const trainLabel = source.train.y.shape.slice(1);
    const testLabel = source.test.y.shape.slice(1);
    if (!sameSizes(trainLabel, testLabel))
      malformed(
        source.test.y.path,
        `its labels have shape ${formatShape(testLabel)} each, but the training labels (${source.train.y.path}) have ${formatShape(trainLabel)}`,
      );
  }
  const sampleShape = source.train.x.shape.slice(1);
  const features = sizeOfShape(sampleShape);
  const scale = options.number("scale", 1);
  const center = options.bool("center", false);
  const normalize = options.bool("normalize", false);

  const labels = chooseLabels(source);
  const trainLabels = labels.kind === "classes" ? readLabels(source.train.y) : undefined;
  const testLabels = labels.kind === "classes" && source.test ? readLabels(source.test.y) : undefined;

  // Pools of example indices, per class (or one pool for targets), each in a seeded order.
  const poolsOf = (count: number, values: number[] | undefined, stream: string): number[][] => {
    const groups =
      labels.kind === "classes" && values !== undefined
        ? labels.classes.map((c) => values.flatMap((v, i) => (v === c ? [i] : [])))
        : [Array.from({ length: count }, (_, i) => i)];
    return groups.map((group, g) => new Rng(deriveSeed(seed, `${kind}/${stream}/${g}`)).shuffle(group));
  };
  const trainPools = poolsOf(exampleCount(source.train.x), trainLabels, "train");
  const testPools = source.test ? poolsOf(exampleCount(source.test.x), testLabels, "test") : undefined;
  const classText = (c: number): string => source.classNames?.[c] ?? String(c);
  if (labels.kind === "classes") {
    labels.classes.forEach((c, g) => {
      if (defined(trainPools[g], "a class's pool").length === 0)
        fail("NQM4003", {
          reason: `${kind}: class ${classText(c)} has no examples in ${source.train.y.path} (its classes: ${[...new Set(trainLabels)].sort((a, b) => a - b).join(", ")})`,
        });
    });
  }
  const trainAvailable = trainPools.map((pool) => pool.length);
  const totalTrain = trainAvailable.reduce((a, b) => a + b, 0);
  const testAvailable = testPools?.map((pool) => pool.length);
  const totalTest = testAvailable?.reduce((a, b) => a + b, 0);
  const testSize = options.int("test", totalTest ?? 0, 0);
  const n = options.int("n", testPools ? totalTrain : totalTrain - testSize, 1);
  const counted = (pools: number[][]): string =>
    labels.kind === "classes"
      ? ` (${labels.classes.map((c, g) => `${classText(c)}: ${defined(pools[g], "a class's pool").length}`).join(", ")})`
      : "";
  if (source.test && testPools && testAvailable && totalTest !== undefined) {
    if (n > totalTrain)
      fail("NQM4003", {
        reason: `${kind}: n=${n}, but ${source.train.x.path} holds ${totalTrain} examples${labels.kind === "classes" ? " of the chosen classes" : ""}${counted(trainPools)}`,
      });
    if (testSize > totalTest)
      fail("NQM4003", {
        reason: `${kind}: test=${testSize}, but ${source.test.x.path} holds ${totalTest} examples${labels.kind === "classes" ? " of the chosen classes" : ""}${counted(testPools)}`,
      });
  } else if (n + testSize > totalTrain || n < 1) {
    fail("NQM4003", {
      reason: `${kind}: ${source.train.x.path} holds ${totalTrain} examples${labels.kind === "classes" ? " of the chosen classes" : ""}${counted(trainPools)}; n=${n} and test=${testSize} need ${n + testSize} (there are no test arrays, so the test split comes from them)`,
    });
  }
  const trainCounts = allocate(n, trainAvailable);
  const testCounts = testAvailable
    ? allocate(testSize, testAvailable)
    : allocate(
        testSize,
        trainAvailable.map((a, g) => a - defined(trainCounts[g], "a class's count")),
      );
  const pick = (pools: number[][], counts: number[], from: number[]): number[] =>
    pools
      .flatMap((pool, g) => {
        const start = defined(from[g], "a class's first pick");
        return pool.slice(start, start + defined(counts[g], "a class's count"));
      })
      .sort((a, b) => a - b);
  const zeros = trainPools.map(() => 0);
  const trainPicks = pick(trainPools, trainCounts, zeros);
  const testPicks = testPools ? pick(testPools, testCounts, zeros) : pick(trainPools, testCounts, trainCounts);

  const outputSize =
    labels.kind === "classes" ? (labels.classes.length === 2 ? 1 : labels.classes.length) : labels.size;
  checkMemory(
    `the data set ${kind} with n=${n} and test=${testSize}`,
    source.held + (trainPicks.length + testPicks.length) * (features + outputSize) * 8,
    source.memoryLimit,
    "lower n or test",
  );
  const pixelDivisor = source.pixelDivisor ?? 1;
  const build = (examples: Examples, picks: number[], values: number[] | undefined): Split => {
    const x = new Float64Array(picks.length * features);
    const y = new Float64Array(picks.length * outputSize);
    picks.forEach((index, row) => {
      examples.x.read(index * features, features, x, row * features);
      // biome-ignore-start lint/style/noNonNullAssertion: per-pixel loop over every kept example, j bounded by the loop
      for (let j = row * features; j < (row + 1) * features; j++) {
        const value = x[j]!;
        // One comparison catches NaN, ±Infinity and values past the limit; checked() says which.
        if (!(Math.abs(value) <= DATA_MAGNITUDE_LIMIT)) checked(examples.x, index, j - row * features, value);
        if (pixelDivisor !== 1) x[j] = value / pixelDivisor;
      }
      // biome-ignore-end lint/style/noNonNullAssertion: per-pixel loop ends
      if (labels.kind === "classes") {
        const g = labels.classes.indexOf(defined(values?.[index], "an example's label"));
        if (outputSize === 1) y[row] = g === 0 ? -1 : 1;
        else y[row * outputSize + g] = 1;
      } else {
        for (let k = 0; k < outputSize; k++)
          y[row * outputSize + k] = checked(examples.y, index, k, examples.y.get(index * outputSize + k));
      }
    });
    return { n: picks.length, x, y };
  };
  const train = build(source.train, trainPicks, trainLabels);
  const test =
    testPicks.length === 0
      ? undefined
      : source.test
        ? build(source.test, testPicks, testLabels)
        : build(source.train, testPicks, trainLabels);
  transform(train, test, features, { center, normalize, scale });

  const transforms = [
    pixelDivisor !== 1 ? "pixels in [0, 1]" : "",
    center ? "centered" : "",
    normalize ? "unit-norm" : "",
    scale !== 1 ? `scaled by ${scale}` : "",
  ].filter((s) => s !== "");
  const labelling =
    labels.kind === "targets"
      ? `targets of ${outputSize} value${outputSize === 1 ? "" : "s"} as stored`
      : labels.classes.length === 2
        ? `class ${classText(defined(labels.classes[0], "the first class"))} → −1, class ${classText(defined(labels.classes[1], "the second class"))} → +1`
        : `one-hot over classes ${labels.classes.map(classText).join(", ")}`;
  const classOption = labels.kind === "classes" ? `,classes=${labels.classes.join("+")}` : "";
  const dataset: Dataset = {
    name: `${kind}:${source.files.join(",")}${classOption},n=${n},test=${testSize},scale=${scale},center=${center},normalize=${normalize}`,
    description: `${source.what}: examples of shape ${formatShape(sampleShape)}${transforms.length > 0 ? ` (${transforms.join(", ")})` : ""}; ${labelling}`,
    inputShape: [features],
    outputSize,
    train,
  };
  if (sampleShape.length >= 2) dataset.imageShape = [...sampleShape];
  if (test !== undefined) dataset.test = test;
  return dataset;
}

function sameSizes(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function checkExamples({ x, y }: Examples): void {
  if (x.shape.length === 0) malformed(x.path, "it holds a single number (shape ()), not one example per row");
  if (y.shape.length === 0) malformed(y.path, "it holds a single number (shape ()), not one label per example");
  if (x.shape[0] === 0) malformed(x.path, `it holds no examples (shape ${tupleText(x.shape)})`);
  if (sizeOfShape(x.shape.slice(1)) === 0) malformed(x.path, `its examples are empty (shape ${tupleText(x.shape)})`);
  if (y.shape[0] !== x.shape[0])
    malformed(
      y.path,
      `it holds ${y.shape[0]} labels (shape ${tupleText(y.shape)}), but ${x.path} holds ${x.shape[0]} examples (shape ${tupleText(x.shape)})`,
    );
  if (sizeOfShape(y.shape.slice(1)) === 0) malformed(y.path, `its labels are empty (shape ${tupleText(y.shape)})`);
}

/** One value per example: a class label when it is a whole number (checked by the caller). */
function readLabels(y: NumericArray): number[] {
  return Array.from({ length: exampleCount(y) }, (_, i) => y.get(i));
}

/** The length of an array's first axis (checkExamples has made sure there is one). */
function exampleCount(array: NumericArray): number {
  return defined(array.shape[0], `the first axis of ${array.path}`);
}

function chooseLabels(source: FileDatasetSource): Labels {
  const { kind, options } = source;
  const y = source.train.y;
  const perExample = sizeOfShape(y.shape.slice(1));
  const classesText = options.raw("classes");
  const integer = isIntegerType(y.type);
  if (perExample !== 1 || (!integer && classesText === undefined)) {
    if (classesText !== undefined)
      fail("NQM4003", {
        reason: `${kind}: classes= needs one class label per example, but ${y.path} holds ${y.type} labels of shape ${tupleText(y.shape)}`,
      });
    return { kind: "targets", size: perExample };
  }
  const splits = source.test ? [y, source.test.y] : [y];
  for (const array of splits) {
    for (let i = 0, count = exampleCount(array); i < count; i++) {
      const value = array.get(i);
      if (!Number.isInteger(value))
        fail("NQM4003", {
          reason: `${kind}: classes= needs whole-number labels, but label ${i} of ${array.path} is ${value}`,
        });
    }
  }
  const present = [...new Set(readLabels(y))].sort((a, b) => a - b);
  const classes =
    classesText === undefined
      ? source.defaultClasses
        ? [...source.defaultClasses]
        : present
      : parseClassList(kind, classesText, present, source.classNames);
  if (classes.length < 2)
    fail("NQM4003", {
      reason: `${kind}: ${classesText === undefined ? `${y.path} holds one class (${classes.join("")})` : `classes=${classesText} names one class`}; classification needs two or more`,
    });
  return { kind: "classes", classes };
}

/** `classes=0+2`, `classes=airplane+bird` (with class names) or `classes=all` (every class present). */
function parseClassList(kind: string, text: string, present: number[], names: readonly string[] | undefined): number[] {
  if (text === "all") return present;
  const classes = text.split("+").map((part) => {
    const token = part.trim();
    if (/^-?\d+$/.test(token)) return Number(token);
    const named = names?.indexOf(token) ?? -1;
    if (named >= 0) return named;
    const accepted = names ? `a class number or one of ${names.join(", ")}` : "a whole number";
    return fail("NQM4003", { reason: `${kind}: class \`${token}\` in classes=${text} is not ${accepted}` });
  });
  if (new Set(classes).size !== classes.length)
    fail("NQM4003", { reason: `${kind}: classes=${text} names a class twice` });
  return classes;
}

/** A finite value within the data magnitude limit, or a located error. */
function checked(array: NumericArray, example: number, entry: number, value: number): number {
  if (!Number.isFinite(value))
    fail("NQM4006", { what: String(value), where: `${array.path}, example ${example}, entry ${entry}` });
  if (Math.abs(value) > DATA_MAGNITUDE_LIMIT)
    fail("NQM4003", {
      reason: `${array.path}, example ${example}, entry ${entry}: ${value} is beyond ±${DATA_MAGNITUDE_LIMIT}, where squared losses overflow`,
    });
  return value;
}

/** Centering by the training mean, then unit norm per example, then scaling, as mnist does. */
function transform(
  train: Split,
  test: Split | undefined,
  features: number,
  options: { center: boolean; normalize: boolean; scale: number },
): void {
  const splits = test ? [train, test] : [train];
  // biome-ignore-start lint/style/noNonNullAssertion: per-pixel loops over whole splits, indices bounded by the loops
  if (options.center) {
    const mean = new Float64Array(features);
    for (let row = 0; row < train.n; row++)
      for (let j = 0; j < features; j++) mean[j]! += train.x[row * features + j]! / train.n;
    for (const split of splits) for (let i = 0; i < split.x.length; i++) split.x[i]! -= mean[i % features]!;
  }
  if (options.normalize) {
    for (const split of splits) {
      for (let row = 0; row < split.n; row++) {
        const example = split.x.subarray(row * features, (row + 1) * features);
        let norm = 0;
        for (const v of example) norm += v * v;
        norm = Math.sqrt(norm);
        if (norm > 0) for (let j = 0; j < features; j++) example[j]! /= norm;
      }
    }
  }
  if (options.scale !== 1)
    for (const split of splits) for (let i = 0; i < split.x.length; i++) split.x[i]! *= options.scale;
  // biome-ignore-end lint/style/noNonNullAssertion: per-pixel loops end
}
