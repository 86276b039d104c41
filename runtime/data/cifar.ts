/**
 * CIFAR-10 in its binary version (cifar-10-batches-bin): data_batch_1.bin … data_batch_5.bin and
 * test_batch.bin, each a sequence of 3073-byte records, one label byte (0–9) then 3072 pixel
 * bytes, the red, green and blue planes of a 32×32 image, row-major. Images keep their shape
 * [3, 32, 32]; pixels are put in [0, 1]. The default classes are the paper's CIFAR-2: 0 and 2
 * (airplane and bird).
 */
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { defined } from "../../foundation/defined.ts";
import { fail } from "../../foundation/diagnostics.ts";
import type { NumericArray } from "./arrays.ts";
import { bytesText, malformed, readDataFile } from "./binary.ts";
import { buildFileDataset, FILE_DATASET_OPTIONS, type Examples } from "./labelled.ts";
import type { OptionReader } from "./options.ts";
import type { Dataset } from "./types.ts";

export const CIFAR_OPTIONS = FILE_DATASET_OPTIONS;

/** CIFAR-10's classes by label. */
export const CIFAR_CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
] as const;

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
const TRAIN_FILES = [
  "data_batch_1.bin",
  "data_batch_2.bin",
  "data_batch_3.bin",
  "data_batch_4.bin",
  "data_batch_5.bin",
] as const;
const TEST_FILE = "test_batch.bin";

/** Loads `cifar:DIR` (the folder holding data_batch_*.bin, or the folder above cifar-10-batches-bin). */
export function loadCifar(
  options: OptionReader,
  paths: string[],
  seed: number,
  cwd: string,
  memoryLimit: number,
): Dataset {
  if (paths.length !== 1)
    fail("NQM4003", {
      reason: `cifar: expected one folder but found ${paths.length}; write cifar:DIR with DIR holding data_batch_1.bin … test_batch.bin`,
    });
  const given = defined(paths[0], "the cifar folder");
  const nested = join(given, "cifar-10-batches-bin");
  const folder = existsSync(resolve(cwd, nested, TRAIN_FILES[0])) ? nested : given;
  if (!isFolder(resolve(cwd, folder)))
    fail("NQM4003", { reason: `cifar: ${given} is not a folder; write cifar:DIR with the binary batches in DIR` });
  const trainFiles = TRAIN_FILES.map((name) => join(folder, name)).filter((path) => existsSync(resolve(cwd, path)));
  if (trainFiles.length === 0)
    fail("NQM4003", {
      reason: `cifar: ${folder} holds no data_batch_1.bin … data_batch_5.bin (the CIFAR-10 binary version, cifar-10-binary.tar.gz, unpacks to them)`,
    });
  const testPath = join(folder, TEST_FILE);
  let held = 0;
  const read = (paths: string[]): Examples => {
    const batches = paths.map((path) => {
      const bytes = readDataFile(path, cwd, memoryLimit, held);
      held += bytes.length;
      return checkBatch(bytes, path);
    });
    return records(batches, paths.join(", "));
  };
  const train = read(trainFiles);
  const test = existsSync(resolve(cwd, testPath)) ? read([testPath]) : undefined;
  const named = trainFiles.map((path) => path.slice(folder.length + 1)).join(", ");
  return buildFileDataset({
    kind: "cifar",
    files: [given],
    what: `CIFAR-10 ${folder} (${named}${test ? `, ${TEST_FILE}` : ""})`,
    train,
    ...(test ? { test } : {}),
    options,
    seed,
    memoryLimit,
    held,
    pixelDivisor: 255,
    classNames: CIFAR_CLASSES,
    defaultClasses: [0, 2],
  });
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

interface Batch {
  path: string;
  bytes: Uint8Array;
  count: number;
}

function checkBatch(bytes: Uint8Array, path: string): Batch {
  if (bytes.length === 0) malformed(path, "the file is empty; a batch holds 3073-byte records");
  if (bytes.length % RECORD !== 0) {
    const whole = Math.floor(bytes.length / RECORD);
    malformed(
      path,
      `byte ${whole * RECORD}: record ${whole + 1} is cut short after ${bytesText(bytes.length - whole * RECORD)}; a record is 3073 bytes (1 label byte and 3072 pixel bytes), and the file's ${bytesText(bytes.length)} are not a whole number of them`,
    );
  }
  const count = bytes.length / RECORD;
  for (let r = 0; r < count; r++) {
    const label = defined(bytes[r * RECORD], "a record's label byte");
    if (label > 9)
      malformed(
        path,
        `byte ${r * RECORD}: record ${r + 1} has label ${label}; CIFAR-10 labels are 0–9 (is this the CIFAR-100 format, with 2 label bytes?)`,
      );
  }
  return { path, bytes, count };
}

/** The records of several batches as one [examples, 3, 32, 32] array and its labels. */
function records(batches: Batch[], path: string): Examples {
  // Each batch with the index of its first record, last first: a record is in the first batch starting at or before it.
  const placed: { batch: Batch; start: number }[] = [];
  let total = 0;
  for (const batch of batches) {
    placed.unshift({ batch, start: total });
    total += batch.count;
  }
  const locate = (record: number): { batch: Batch; at: number } => {
    const { batch, start } = defined(
      placed.find((p) => p.start <= record),
      "the batch of a record",
    );
    return { batch, at: (record - start) * RECORD };
  };
  const x: NumericArray = {
    path,
    type: "uint8",
    shape: [total, 3, 32, 32],
    get(index) {
      const record = Math.floor(index / PIXELS);
      const { batch, at } = locate(record);
      return defined(batch.bytes[at + 1 + (index - record * PIXELS)], "a pixel within the records");
    },
    read(start, count, out, offset) {
      // One call per example: whole records, so one lookup of the batch.
      for (let done = 0; done < count; ) {
        const record = Math.floor((start + done) / PIXELS);
        const { batch, at } = locate(record);
        const within = start + done - record * PIXELS;
        const take = Math.min(count - done, PIXELS - within);
        const first = at + 1 + within;
        out.set(batch.bytes.subarray(first, first + take), offset + done);
        done += take;
      }
    },
  };
  const y: NumericArray = {
    path,
    type: "uint8",
    shape: [total],
    get(index) {
      const { batch, at } = locate(index);
      return defined(batch.bytes[at], "a label within the records");
    },
    read(start, count, out, offset) {
      for (let i = 0; i < count; i++) out[offset + i] = this.get(start + i);
    },
  };
  return { x, y };
}
