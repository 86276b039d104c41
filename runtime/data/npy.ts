/**
 * NumPy's own files. A .npy file is the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), the
 * length of a header (2 bytes in version 1, 4 after), the header (a Python dict literal with
 * `descr`, `fortran_order` and `shape`), then the array's bytes. A .npz file is a zip archive of
 * .npy files, stored or deflated, read by zip.ts. nqm reads little-endian float64, float32,
 * uint8, int8, int16, int32 and int64 arrays in C order; anything else is refused by name.
 */
import { ELEMENT_SIZE, type ElementType, type NumericArray, sizeOfShape, tupleText, viewArray } from "./arrays.ts";
import { bytesText, malformed, readDataFile, unsupported } from "./binary.ts";
import { buildFileDataset, FILE_DATASET_OPTIONS, type Examples } from "./labelled.ts";
import type { OptionReader } from "./options.ts";
import type { Dataset } from "./types.ts";
import { readZip } from "./zip.ts";
import { defined } from "../../foundation/defined.ts";
import { fail } from "../../foundation/diagnostics.ts";

export const NPY_OPTIONS = FILE_DATASET_OPTIONS;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy type codes (after the byte-order character) that nqm reads. */
const TYPES: Readonly<Record<string, ElementType>> = {
  f8: "float64",
  f4: "float32",
  u1: "uint8",
  i1: "int8",
  i2: "int16",
  i4: "int32",
  i8: "int64",
};

const TYPE_WORDS: Readonly<Record<string, string>> = {
  b1: "bool",
  f2: "float16",
  u2: "uint16",
  u4: "uint32",
  u8: "uint64",
  c8: "complex64",
  c16: "complex128",
  O: "Python objects",
};

const SUPPORTED = "float64, float32, uint8, int8, int16, int32 or int64";

/** Parses a whole .npy file; `path` names it in errors, each located by byte offset. */
export function parseNpy(bytes: Uint8Array, path: string): NumericArray {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    const seen = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(" ");
    malformed(
      path,
      `bytes 0–5: ${bytes.length < 6 ? `the file is only ${bytesText(bytes.length)} long` : `magic ${seen}`}, not a NumPy .npy header (\\x93NUMPY)`,
    );
  }
  const major = defined(bytes[6], "the major version byte");
  const minor = defined(bytes[7], "the minor version byte");
  if (!(major >= 1 && major <= 3) || minor !== 0)
    unsupported(path, `byte 6: .npy format version ${major}.${minor}; nqm reads versions 1.0, 2.0 and 3.0`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) malformed(path, `byte 8: the file ends inside the header length`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lengthBytes;
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length)
    malformed(
      path,
      `byte 8: the header is said to be ${bytesText(headerLength)} long, but the file ends after ${bytesText(bytes.length - headerStart)} of it`,
    );
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, dataStart));
  const where = `bytes ${headerStart}–${dataStart - 1}`;
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  if (descr === undefined) {
    if (/['"]descr['"]\s*:\s*\[/.test(header))
      unsupported(path, `${where}: a structured array (its descr is a list of fields); save plain numeric arrays`);
    malformed(path, `${where}: the header has no 'descr' (the element type): ${JSON.stringify(header.trim())}`);
  }
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  if (fortran === undefined)
    malformed(path, `${where}: the header has no 'fortran_order': ${JSON.stringify(header.trim())}`);
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) malformed(path, `${where}: the header has no 'shape': ${JSON.stringify(header.trim())}`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim().replace(/L$/, ""))
    .filter((s) => s !== "")
    .map((s) => {
      if (!/^\d+$/.test(s)) malformed(path, `${where}: the shape (${shapeText}) has \`${s}\`, not a size`);
      return Number(s);
    });
  const type = elementType(descr, path, where);
  if (fortran === "True")
    unsupported(
      path,
      `${where}: the array is in Fortran (column-major) order; save it in C order, e.g. np.save(path, np.ascontiguousarray(x))`,
    );
  const expected = sizeOfShape(shape) * ELEMENT_SIZE[type];
  const held = bytes.length - dataStart;
  if (held < expected)
    malformed(
      path,
      `byte ${dataStart}: header says shape ${tupleText(shape)} of ${type} (${bytesText(expected)}), the file holds ${bytesText(held)}`,
    );
  if (held > expected)
    malformed(
      path,
      `byte ${dataStart + expected}: ${bytesText(held - expected)} after the data of shape ${tupleText(shape)} of ${type}; the file is not one .npy array`,
    );
  return viewArray(path, type, shape, bytes, dataStart, true);
}

function elementType(descr: string, path: string, where: string): ElementType {
  const order = descr[0];
  const code = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  const known = TYPES[code];
  if (known === undefined) {
    const word = TYPE_WORDS[code] ?? `'${descr}'`;
    unsupported(path, `${where}: the element type is ${word}; nqm reads ${SUPPORTED}`);
  }
  if (order === ">" && ELEMENT_SIZE[known] > 1)
    unsupported(
      path,
      `${where}: the array is big-endian ('${descr}'); save it little-endian, e.g. x.astype('<${code}')`,
    );
  return known;
}

/** Loads `npy:TRAIN_X.npy,TRAIN_Y.npy[,TEST_X.npy,TEST_Y.npy]` with the options of FILE_DATASET_OPTIONS. */
export function loadNpy(
  options: OptionReader,
  paths: string[],
  seed: number,
  cwd: string,
  memoryLimit: number,
): Dataset {
  const [trainX, trainY, testX, testY] = paths;
  if (trainX === undefined || trainY === undefined || (paths.length !== 2 && paths.length !== 4))
    fail("NQM4003", {
      reason: `npy: expected 2 files (x and y) or 4 (x, y, test x, test y) but found ${paths.length}; write npy:x.npy,y.npy[,x_test.npy,y_test.npy]`,
    });
  let held = 0;
  const read = (path: string): NumericArray => {
    const bytes = readDataFile(path, cwd, memoryLimit, held);
    held += bytes.length;
    return parseNpy(bytes, path);
  };
  const train: Examples = { x: read(trainX), y: read(trainY) };
  const test: Examples | undefined =
    testX !== undefined && testY !== undefined ? { x: read(testX), y: read(testY) } : undefined;
  return buildFileDataset({
    kind: "npy",
    files: paths,
    what: `NumPy arrays ${trainX}, ${trainY}`,
    train,
    ...(test ? { test } : {}),
    options,
    seed,
    memoryLimit,
    held,
  });
}

/** Loads `npz:FILE.npz` (arrays x_train, y_train and optionally x_test, y_test). */
export function loadNpz(
  options: OptionReader,
  paths: string[],
  seed: number,
  cwd: string,
  memoryLimit: number,
): Dataset {
  if (paths.length !== 1)
    fail("NQM4003", {
      reason: `npz: expected one file but found ${paths.length}; write npz:data.npz (arrays x_train, y_train, x_test, y_test)`,
    });
  const path = defined(paths[0], "the npz file");
  const bytes = readDataFile(path, cwd, memoryLimit);
  const archive = readZip(bytes, path, memoryLimit - bytes.length);
  let held = bytes.length;
  const names = archive.names.map((name) => name.replace(/\.npy$/, ""));
  const member = (key: string): NumericArray => {
    const name = `${key}.npy`;
    if (!archive.names.includes(name))
      malformed(
        path,
        `it has no array \`${key}\` (it holds: ${names.join(", ") || "nothing"}); nqm reads x_train, y_train and optionally x_test, y_test`,
      );
    const data = archive.extract(name, memoryLimit - held);
    held += data.length;
    return parseNpy(data, `${path}:${name}`);
  };
  const train: Examples = { x: member("x_train"), y: member("y_train") };
  const hasTestX = archive.names.includes("x_test.npy");
  const hasTestY = archive.names.includes("y_test.npy");
  if (hasTestX !== hasTestY)
    malformed(
      path,
      `it has ${hasTestX ? "x_test but no y_test" : "y_test but no x_test"}; give both test arrays or neither`,
    );
  const test: Examples | undefined = hasTestX ? { x: member("x_test"), y: member("y_test") } : undefined;
  return buildFileDataset({
    kind: "npz",
    files: [path],
    what: `NumPy archive ${path}`,
    train,
    ...(test ? { test } : {}),
    options,
    seed,
    memoryLimit,
    held,
  });
}
