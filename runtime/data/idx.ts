/**
 * The IDX format of MNIST and Fashion-MNIST (train-images-idx3-ubyte and the like), gzipped or
 * not: two zero bytes, a type byte (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32,
 * 0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian 32-bit
 * size, then the data, big-endian, row-major. Unsigned-byte images are pixels, put in [0, 1].
 */
import { defined } from "../../foundation/defined.ts";
import { fail } from "../../foundation/diagnostics.ts";
import { ELEMENT_SIZE, type ElementType, type NumericArray, sizeOfShape, viewArray } from "./arrays.ts";
import { bytesText, malformed, readDataFile } from "./binary.ts";
import { buildFileDataset, FILE_DATASET_OPTIONS, type Examples } from "./labelled.ts";
import type { OptionReader } from "./options.ts";
import type { Dataset } from "./types.ts";

export const IDX_OPTIONS = FILE_DATASET_OPTIONS;

const TYPES: ReadonlyMap<number, ElementType> = new Map([
  [0x08, "uint8"],
  [0x09, "int8"],
  [0x0b, "int16"],
  [0x0c, "int32"],
  [0x0d, "float32"],
  [0x0e, "float64"],
]);

/** Parses a whole (un-gzipped) IDX file; `role` says what it should hold ("images", "labels"). */
export function parseIdx(bytes: Uint8Array, path: string, role: string): NumericArray {
  const typeByte = bytes[2];
  const type = bytes[0] === 0 && bytes[1] === 0 && typeByte !== undefined ? TYPES.get(typeByte) : undefined;
  const rank = bytes[3];
  if (type === undefined || rank === undefined) {
    const seen = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    malformed(
      path,
      `bytes 0–3: ${bytes.length < 4 ? `the file is only ${bytesText(bytes.length)} long` : `magic ${seen}`}, not an IDX header (00 00, a type byte 08–0e, a dimension count)`,
    );
  }
  if (rank === 0) malformed(path, "byte 3: the header has 0 dimensions; expected one per axis, examples first");
  const dataStart = 4 + 4 * rank;
  if (bytes.length < dataStart)
    malformed(path, `byte ${bytes.length}: the file ends inside the header's ${rank} dimension sizes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, axis) => view.getUint32(4 + 4 * axis, false));
  const expected = sizeOfShape(shape) * ELEMENT_SIZE[type];
  const held = bytes.length - dataStart;
  if (held !== expected) {
    const count = defined(shape[0], "the example count");
    const each = shape.slice(1).join("×");
    const says = `header says ${count} ${role}${each === "" ? "" : ` of ${each}`}`;
    const unit = ELEMENT_SIZE[type] * sizeOfShape(shape.slice(1));
    const holds =
      held < expected
        ? `the file holds ${Math.floor(held / unit)}${held % unit === 0 ? "" : " and a part"} (${bytesText(held)} of ${type} after the header, not ${expected.toLocaleString("en-US")})`
        : `the file holds ${bytesText(held - expected)} more after them`;
    malformed(path, `byte ${dataStart}: ${says}, ${holds}`);
  }
  return viewArray(path, type, shape, bytes, dataStart, false);
}

/** Loads `idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS]` (each file gzipped or not). */
export function loadIdx(
  options: OptionReader,
  paths: string[],
  seed: number,
  cwd: string,
  memoryLimit: number,
): Dataset {
  const [trainImages, trainLabels, testImages, testLabels] = paths;
  if (trainImages === undefined || trainLabels === undefined || (paths.length !== 2 && paths.length !== 4))
    fail("NQM4003", {
      reason: `idx: expected 2 files (images, labels) or 4 (with test images, test labels) but found ${paths.length}; write idx:train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz`,
    });
  let held = 0;
  const read = (path: string, role: string): NumericArray => {
    const bytes = readDataFile(path, cwd, memoryLimit, held);
    held += bytes.length;
    return parseIdx(bytes, path, role);
  };
  const labels = (path: string): NumericArray => {
    const array = read(path, "labels");
    if (array.shape.length !== 1)
      malformed(path, `byte 3: a labels file has 1 dimension, this one ${array.shape.length} (is it an images file?)`);
    return array;
  };
  const train: Examples = { x: read(trainImages, "images"), y: labels(trainLabels) };
  const test: Examples | undefined =
    testImages !== undefined && testLabels !== undefined
      ? { x: read(testImages, "images"), y: labels(testLabels) }
      : undefined;
  const bytePixels = train.x.type === "uint8";
  if (test && test.x.type !== train.x.type)
    malformed(
      test.x.path,
      `byte 2: its images are ${test.x.type}, the training images (${train.x.path}) ${train.x.type}`,
    );
  return buildFileDataset({
    kind: "idx",
    files: paths,
    what: `IDX files ${trainImages}, ${trainLabels}`,
    train,
    ...(test ? { test } : {}),
    options,
    seed,
    memoryLimit,
    held,
    ...(bytePixels ? { pixelDivisor: 255 } : {}),
  });
}
