/** One training example (x, y), as in the paper's single-example theorems; no test split. */
import { fail } from "../../foundation/diagnostics.ts";
import type { OptionReader } from "./options.ts";
import type { Dataset } from "./types.ts";

export const SINGLE_OPTIONS = ["x", "y"] as const;

/** Loads `single:x=1/2/3,y=1`; x and y are `/`-separated lists (default x=1, y=1). */
export function loadSingle(options: OptionReader): Dataset {
  const x = options.numbers("x", [1]);
  const y = options.numbers("y", [1]);
  if (x.length === 0 || y.length === 0) fail("NQM4003", { reason: "single: x and y need at least one value" });
  const list = (values: number[]): string => values.join("/");
  return {
    name: `single:x=${list(x)},y=${list(y)}`,
    description: `one example x = (${x.join(", ")}), y = (${y.join(", ")})`,
    inputShape: [x.length],
    outputSize: y.length,
    train: { n: 1, x: Float64Array.from(x), y: Float64Array.from(y) },
  };
}
