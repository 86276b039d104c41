/**
 * The paper's one-dimensional two-class set (its Figure 3): half the points x ~ N(−mean, std²)
 * labelled −1, half x ~ N(+mean, std²) labelled +1. The −1 class comes first (floor(n/2) points),
 * then the +1 class; order does not matter for full-batch gradient descent.
 */
import { checkMemory } from "../memory.ts";
import { deriveSeed, Rng } from "../rng.ts";
import type { OptionReader } from "./options.ts";
import type { Dataset, Split } from "./types.ts";

export const GAUSS1D_OPTIONS = ["n", "test", "mean", "std"] as const;

/** Loads `gauss1d` from its options; `test=0` means no test split. */
export function loadGauss1d(options: OptionReader, seed: number, memoryLimit: number): Dataset {
  const n = options.int("n", 128, 1);
  const testSize = options.int("test", 2000, 0);
  const mean = options.number("mean", 2);
  const std = options.number("std", 1, { positive: true });
  // x and y, one double each per example, for the train and test splits.
  checkMemory(`gauss1d with n=${n} and test=${testSize}`, (n + testSize) * 2 * 8, memoryLimit, "lower n or test");
  const train = drawGauss1d(n, mean, std, new Rng(deriveSeed(seed, "gauss1d/train")));
  const dataset: Dataset = {
    name: `gauss1d:n=${n},test=${testSize},mean=${mean},std=${std}`,
    description: `${n} points on a line: x ~ N(${-mean}, ${std}²) labelled −1 and x ~ N(${mean}, ${std}²) labelled +1`,
    inputShape: [1],
    outputSize: 1,
    train,
  };
  if (testSize > 0) dataset.test = drawGauss1d(testSize, mean, std, new Rng(deriveSeed(seed, "gauss1d/test")));
  return dataset;
}

function drawGauss1d(n: number, mean: number, std: number, rng: Rng): Split {
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const negatives = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    const label = i < negatives ? -1 : 1;
    x[i] = label * mean + std * rng.normal();
    y[i] = label;
  }
  return { n, x, y };
}
