/** The example models with small sizes, for tests that compile or verify every example. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const EXAMPLES_DIR = join(import.meta.dirname, "../../examples");

/** --set values that make each example tiny; every file in examples/ needs an entry. */
export const SMALL_SIZES: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  "cnn_mnist.nqm": { h: 8, c: 2 },
  "general_quadratic.nqm": { d: 5 },
  "general_quadratic_sigma.nqm": { d: 4 },
  "mnist_multiclass.nqm": { d: 6, m: 5, k: 3 },
  "myrtle5.nqm": { h: 8, c: 2 },
  "three_layer_relu.nqm": { d: 2, m: 6 },
  "two_layer_relu.nqm": { d: 2, m: 8 },
  "two_layer_swish.nqm": { d: 2, m: 6 },
  "two_layer_tanh.nqm": { d: 2, m: 6 },
  "uv.nqm": { m: 6 },
};

export interface Example {
  readonly file: string;
  readonly path: string;
  readonly source: string;
  readonly set: Readonly<Record<string, number>>;
}

/** Every .nqm file of examples/, with its small sizes (throws for a file without an entry above). */
export function examples(): Example[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".nqm"))
    .sort()
    .map((file) => {
      const set = SMALL_SIZES[file];
      if (!set) throw new Error(`examples/${file} has no small sizes in spec/support/examples.ts`);
      const path = join(EXAMPLES_DIR, file);
      return { file, path, source: readFileSync(path, "utf8"), set };
    });
}

/** The sizes as CLI arguments: ["--set", "d=5,m=6"]. */
export function setArguments(set: Readonly<Record<string, number>>): string[] {
  const text = Object.entries(set)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return text ? ["--set", text] : [];
}
