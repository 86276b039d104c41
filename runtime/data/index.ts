/**
 * Data sets for full-batch gradient-descent experiments, chosen by a spec string:
 *
 *   KIND                          e.g. gauss1d
 *   KIND:key=value,key=value      e.g. mnist:classes=3+5,n=256
 *   csv:PATH[,key=value...]       e.g. csv:data/train.csv,label=y,test=0.2
 *   npy:X,Y[,TX,TY][,key=value]   e.g. npy:x.npy,y.npy,classes=0+1,n=256 (also npz:, idx:, cifar:)
 *
 * Lists inside a value use `/` for numbers (single:x=1/2/3) and `+` for names (classes=0+1),
 * so a spec needs no quoting in a shell. See DATASET_HELP for the kinds and their options.
 * All randomness comes from the seed, split into independent named streams: the same spec and
 * seed give bit-identical data.
 */
import { fail } from "../../foundation/diagnostics.ts";
import { defaultMemoryLimit } from "../memory.ts";
import { CIFAR_OPTIONS, loadCifar } from "./cifar.ts";
import { CSV_OPTIONS, loadCsv } from "./csv.ts";
import { IDX_OPTIONS, loadIdx } from "./idx.ts";
import { FILE_DATASET_ALIASES } from "./labelled.ts";
import { loadNpy, loadNpz, NPY_OPTIONS } from "./npy.ts";
import { GAUSS1D_OPTIONS, loadGauss1d } from "./gauss1d.ts";
import { loadMnist, MNIST_ALIASES, MNIST_OPTIONS } from "./mnist.ts";
import { OptionReader, parseSpec } from "./options.ts";
import { loadSingle, SINGLE_OPTIONS } from "./single.ts";
import type { Dataset } from "./types.ts";
import { didYouMean } from "../../foundation/suggest.ts";

export type { Dataset, Split } from "./types.ts";

/** The data set kinds, for completion and suggestions. */
export const DATASET_KINDS = ["gauss1d", "single", "mnist", "csv", "npy", "npz", "idx", "cifar"] as const;

/** The kinds that name files (or a folder) as bare items before their options. */
const FILE_KINDS: readonly string[] = ["csv", "npy", "npz", "idx", "cifar"];

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
  npy       npy:X.npy,Y.npy[,TEST_X.npy,TEST_Y.npy]: NumPy arrays (float32/64, uint8, int8/16/32/64; C order)
  npz       npz:FILE.npz holding x_train, y_train and optionally x_test, y_test (np.savez or savez_compressed)
  idx       idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS]: MNIST/Fashion-MNIST IDX files, gzipped or not
  cifar     cifar:DIR with CIFAR-10's binary batches (data_batch_1..5.bin, test_batch.bin); images [3, 32, 32]
            these four take: classes=0+2 (or all; cifar also by name, airplane+bird; default: all, cifar 0+2),
            n=all (alias train), test=all of the test files (0: none; without test files, drawn from the rest),
            scale=1, center=false, normalize=false; integer labels are classes (2: -1/+1, more: one-hot),
            float labels are targets used as stored; byte pixels of idx and cifar are put in [0,1]
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
    const extension = /\.(csv|txt|tsv|npy|npz)$/i.exec(spec.trim())?.[1]?.toLowerCase();
    const fileKind = extension === "npy" || extension === "npz" ? extension : "csv";
    const hint =
      extension !== undefined
        ? `; to load a file write ${fileKind}:${spec.trim()}${fileKind === "npy" ? ",LABELS.npy" : ""}`
        : didYouMean(kind, DATASET_KINDS);
    fail("NQM4003", { reason: `unknown kind \`${kind}\`${hint} (kinds: ${DATASET_KINDS.join(", ")})` });
  }
  if (!FILE_KINDS.includes(kind) && parsed.bare.length > 0) {
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
    case "npy":
    case "npz": {
      const reader = new OptionReader(kind, parsed.options, NPY_OPTIONS, FILE_DATASET_ALIASES);
      const load = kind === "npy" ? loadNpy : loadNpz;
      return load(reader, parsed.bare, options.seed, cwd, memoryLimit);
    }
    case "idx": {
      const reader = new OptionReader(kind, parsed.options, IDX_OPTIONS, FILE_DATASET_ALIASES);
      return loadIdx(reader, parsed.bare, options.seed, cwd, memoryLimit);
    }
    case "cifar": {
      const reader = new OptionReader(kind, parsed.options, CIFAR_OPTIONS, FILE_DATASET_ALIASES);
      return loadCifar(reader, parsed.bare, options.seed, cwd, memoryLimit);
    }
    default:
      throw new Error(`unreachable: data set kind ${kind}`);
  }
}
