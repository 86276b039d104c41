/**
 * Data sets for full-batch gradient-descent experiments, chosen by a spec string:
 *
 *   KIND                          e.g. gauss1d
 *   KIND:key=value,key=value      e.g. mnist:classes=3+5,n=256
 *   csv:PATH[,key=value...]       e.g. csv:data/train.csv,label=y,test=0.2
 *
 * Lists inside a value use `/` for numbers (single:x=1/2/3) and `+` for names (classes=0+1),
 * so a spec needs no quoting in a shell. See DATASET_HELP for the kinds and their options.
 * All randomness comes from the seed, split into independent named streams: the same spec and
 * seed give bit-identical data.
 */
import { fail } from "../../foundation/diagnostics.ts";
import { defaultMemoryLimit } from "../memory.ts";
import { CSV_OPTIONS, loadCsv } from "./csv.ts";
import { GAUSS1D_OPTIONS, loadGauss1d } from "./gauss1d.ts";
import { loadMnist, MNIST_ALIASES, MNIST_OPTIONS } from "./mnist.ts";
import { OptionReader, parseSpec } from "./options.ts";
import { loadSingle, SINGLE_OPTIONS } from "./single.ts";
import type { Dataset } from "./types.ts";
import { didYouMean } from "../../foundation/suggest.ts";

export type { Dataset, Split } from "./types.ts";

/** The data set kinds, for completion and suggestions. */
export const DATASET_KINDS = ["gauss1d", "single", "mnist", "csv"] as const;

/** Help text for `--data`, listing each kind with its options and defaults. */
export const DATASET_HELP = `Data sets: KIND or KIND:key=value,key=value (lists: x=1/2/3, classes=0+1)
  gauss1d   the paper's 1-D set: half x ~ N(-mean, std^2) labelled -1, half x ~ N(mean, std^2) labelled +1
            n=128 training points, test=2000 test points (0: none), mean=2, std=1
  single    one example, no test split
            x=1 (a /-separated list: x=1/0.5/2 is 3 inputs), y=1 (a list gives several outputs)
  mnist     digits from the mnist package (~1000 per class); 2 classes: labels -1/+1, more: one-hot
            classes=0+1 (or all), n=128 (alias train), test=2000 (0: none), scale=1 (pixels in [0,scale]),
            center=false (subtract the training mean pixel), normalize=false (unit-norm images)
  csv       csv:PATH with a header row; PATH is relative to the working directory
            label=COLUMN (default: the last column; several: label=a+b), test=PATH2 or a fraction like 0.2
The seed (--seed) fixes every random draw; train and test are always disjoint.`;

/**
 * Loads the data set described by `spec` (see DATASET_HELP); user errors throw NQM4003, a data
 * set over `memoryLimit` bytes (default: half the machine's memory) NQM3010 before it is allocated.
 */
export function loadDataset(spec: string, options: { seed: number; cwd?: string; memoryLimit?: number }): Dataset {
  const memoryLimit = options.memoryLimit ?? defaultMemoryLimit();
  const parsed = parseSpec(spec);
  const kind = parsed.kind;
  const cwd = options.cwd ?? process.cwd();
  if (!(DATASET_KINDS as readonly string[]).includes(kind)) {
    const looksLikeFile = /\.(csv|txt|tsv)$/i.test(spec.trim());
    const hint = looksLikeFile ? `; to load a file write csv:${spec.trim()}` : didYouMean(kind, DATASET_KINDS);
    fail("NQM4003", { reason: `unknown kind \`${kind}\`${hint} (kinds: ${DATASET_KINDS.join(", ")})` });
  }
  if (kind !== "csv" && parsed.bare.length > 0) {
    fail("NQM4003", { reason: `${kind}: \`${parsed.bare[0]}\` is not key=value` });
  }
  switch (kind) {
    case "gauss1d":
      return loadGauss1d(new OptionReader(kind, parsed.options, GAUSS1D_OPTIONS), options.seed, memoryLimit);
    case "single":
      return loadSingle(new OptionReader(kind, parsed.options, SINGLE_OPTIONS));
    case "mnist":
      return loadMnist(new OptionReader(kind, parsed.options, MNIST_OPTIONS, MNIST_ALIASES), options.seed);
    case "csv":
      return loadCsv(new OptionReader(kind, parsed.options, CSV_OPTIONS), parsed.bare, options.seed, cwd, memoryLimit);
    default:
      throw new Error(`unreachable: data set kind ${kind}`);
  }
}
