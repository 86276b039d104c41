/**
 * Writers of the binary data formats, for tests that make their own small files: NumPy .npy
 * (header versions 1–3) and .npz (a zip, stored or deflated), IDX (MNIST's format) and CIFAR-10
 * binary batches. Written from the formats' published layouts, independently of the readers.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";

/** A fresh folder under the OS temp folder, removed when the process exits. */
export function tempFolder(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nqm-${name}-`));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `bytes` to dir/name (making folders on the way) and returns the path. */
export function put(dir: string, name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, bytes);
  return path;
}

const WRITERS: Record<string, [number, (b: Buffer, v: number, at: number) => void]> = {
  "<f8": [8, (b, v, at) => b.writeDoubleLE(v, at)],
  "<f4": [4, (b, v, at) => b.writeFloatLE(v, at)],
  ">f4": [4, (b, v, at) => b.writeFloatBE(v, at)],
  "|u1": [1, (b, v, at) => b.writeUInt8(v, at)],
  "|i1": [1, (b, v, at) => b.writeInt8(v, at)],
  "<i2": [2, (b, v, at) => b.writeInt16LE(v, at)],
  "<i4": [4, (b, v, at) => b.writeInt32LE(v, at)],
  "<i8": [8, (b, v, at) => b.writeBigInt64LE(BigInt(v), at)],
  "<c16": [16, (b, v, at) => b.writeDoubleLE(v, at)],
};

export interface NpyOptions {
  /** Header version 1, 2 or 3 (default 1). */
  readonly version?: 1 | 2 | 3;
  readonly fortran?: boolean;
  /** The header text instead of the one built from descr and shape. */
  readonly header?: string;
}

/** A .npy file of `values` (row-major) with element type `descr` (e.g. "<f8") and `shape`. */
export function npy(
  descr: string,
  shape: readonly number[],
  values: readonly number[],
  options: NpyOptions = {},
): Buffer {
  const version = options.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict =
    options.header ??
    `{'descr': '${descr}', 'fortran_order': ${options.fortran === true ? "True" : "False"}, 'shape': ${shapeText}, }`;
  const lengthBytes = version === 1 ? 2 : 4;
  // NumPy pads the header with spaces and a newline so the data starts on a 64-byte boundary.
  const unpadded = 8 + lengthBytes + dict.length + 1;
  const header = `${dict}${" ".repeat((64 - (unpadded % 64)) % 64)}\n`;
  const prefix = Buffer.alloc(8 + lengthBytes);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(prefix);
  if (version === 1) prefix.writeUInt16LE(header.length, 8);
  else prefix.writeUInt32LE(header.length, 8);
  const writer = WRITERS[descr];
  if (writer === undefined) throw new Error(`npy writer: no ${descr}`);
  const [size, write] = writer;
  const data = Buffer.alloc(values.length * size);
  values.forEach((v, i) => write(data, v, i * size));
  return Buffer.concat([prefix, Buffer.from(header, "latin1"), data]);
}

/** A zip archive of the members, each stored (method 0) or deflated (method 8). */
export function zip(members: Record<string, Uint8Array>, method: 0 | 8): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(members)) {
    const nameBytes = Buffer.from(name, "utf8");
    const body = method === 8 ? deflateRawSync(data) : Buffer.from(data);
    const crc = crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(method, 10);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(body.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, body);
    central.push(entry, nameBytes);
    offset += 30 + nameBytes.length + body.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const count = Object.keys(members).length;
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const IDX_TYPES: Record<"uint8" | "int32" | "float32", [number, number, (b: Buffer, v: number, at: number) => void]> = {
  uint8: [0x08, 1, (b, v, at) => b.writeUInt8(v, at)],
  int32: [0x0c, 4, (b, v, at) => b.writeInt32BE(v, at)],
  float32: [0x0d, 4, (b, v, at) => b.writeFloatBE(v, at)],
};

/** An IDX file of `values` (row-major) of element `type` and `shape`, big-endian as the format says. */
export function idx(type: "uint8" | "int32" | "float32", shape: readonly number[], values: readonly number[]): Buffer {
  const [code, size, write] = IDX_TYPES[type];
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = code;
  header[3] = shape.length;
  shape.forEach((s, axis) => header.writeUInt32BE(s, 4 + 4 * axis));
  const data = Buffer.alloc(values.length * size);
  values.forEach((v, i) => write(data, v, i * size));
  return Buffer.concat([header, data]);
}

/** A CIFAR-10 binary batch: per record, its label byte then 3072 pixel bytes from `pixel(record, k)`. */
export function cifarBatch(labels: readonly number[], pixel: (record: number, k: number) => number): Buffer {
  const bytes = Buffer.alloc(labels.length * 3073);
  labels.forEach((label, r) => {
    bytes[r * 3073] = label;
    for (let k = 0; k < 3072; k++) bytes[r * 3073 + 1 + k] = pixel(r, k);
  });
  return bytes;
}
