/**
 * The part of the zip format that .npz files use: the central directory (with its zip64
 * extensions, which NumPy writes for every member) and members stored or deflated. The central
 * directory is authoritative for names and sizes; each member's local header only says where its
 * data starts. Members are checked against their CRC-32 after extraction.
 */
import { crc32, inflateRawSync } from "node:zlib";
import { bytesText, malformed, outputLimit, unsupported } from "./binary.ts";
import { refuseMemory } from "../memory.ts";

const END_OF_DIRECTORY = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_END_OF_DIRECTORY = 0x06064b50;
const DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;
const MAX32 = 0xffffffff;
const MAX16 = 0xffff;

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  /** Where its directory entry is, for messages. */
  at: number;
}

/** An opened archive: its member names, and extraction of one member by name. */
export interface ZipArchive {
  readonly names: readonly string[];
  /** The bytes of member `name`, refused (NQM3010) when they would exceed `budget` bytes. */
  extract(name: string, budget: number): Buffer;
}

/** Reads the directory of the zip archive in `bytes`; `path` names it in errors. */
export function readZip(bytes: Buffer, path: string, budget: number): ZipArchive {
  const end = findEndOfDirectory(bytes, path);
  let count = bytes.readUInt16LE(end + 10);
  let directorySize = bytes.readUInt32LE(end + 12);
  let directoryOffset = bytes.readUInt32LE(end + 16);
  if (count === MAX16 || directorySize === MAX32 || directoryOffset === MAX32) {
    const locator = end - 20;
    if (locator < 0 || bytes.readUInt32LE(locator) !== ZIP64_LOCATOR)
      malformed(path, `byte ${end}: the directory's sizes need the zip64 record, but there is none before it`);
    const record = big(bytes.readBigUInt64LE(locator + 8), path, locator + 8);
    if (record + 56 > bytes.length || bytes.readUInt32LE(record) !== ZIP64_END_OF_DIRECTORY)
      malformed(path, `byte ${locator + 8}: the zip64 record is said to be at byte ${record}, but it is not there`);
    count = big(bytes.readBigUInt64LE(record + 32), path, record + 32);
    directorySize = big(bytes.readBigUInt64LE(record + 40), path, record + 40);
    directoryOffset = big(bytes.readBigUInt64LE(record + 48), path, record + 48);
  }
  if (directoryOffset + directorySize > bytes.length)
    malformed(
      path,
      `byte ${end + 16}: the directory is said to span bytes ${directoryOffset}–${directoryOffset + directorySize - 1}, but the file has ${bytesText(bytes.length)}; it was cut short`,
    );
  const entries = new Map<string, Entry>();
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > directoryOffset + directorySize || bytes.readUInt32LE(at) !== DIRECTORY_ENTRY)
      malformed(path, `byte ${at}: directory entry ${i + 1} of ${count} is missing or damaged`);
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const commentLength = bytes.readUInt16LE(at + 32);
    if (at + 46 + nameLength + extraLength + commentLength > directoryOffset + directorySize)
      malformed(path, `byte ${at}: directory entry ${i + 1} of ${count} runs past the end of the directory`);
    const name = bytes.toString("utf8", at + 46, at + 46 + nameLength);
    const entry: Entry = {
      name,
      flags: bytes.readUInt16LE(at + 8),
      method: bytes.readUInt16LE(at + 10),
      crc: bytes.readUInt32LE(at + 16),
      compressedSize: bytes.readUInt32LE(at + 20),
      size: bytes.readUInt32LE(at + 24),
      localOffset: bytes.readUInt32LE(at + 42),
      at,
    };
    readZip64Extra(bytes, at + 46 + nameLength, extraLength, entry, path);
    entries.set(name, entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  const names = [...entries.keys()];
  return {
    names,
    extract(name, memberBudget) {
      const entry = entries.get(name);
      if (entry === undefined) throw new Error(`zip: no member ${name}; check names first`);
      return extract(bytes, entry, path, Math.min(budget, memberBudget));
    },
  };
}

function findEndOfDirectory(bytes: Buffer, path: string): number {
  // The record is 22 bytes plus a comment of at most 65,535 bytes, at the end of the file.
  const lowest = Math.max(0, bytes.length - 22 - MAX16);
  for (let at = bytes.length - 22; at >= lowest; at--) {
    if (bytes.readUInt32LE(at) === END_OF_DIRECTORY) return at;
  }
  const start = bytes.subarray(0, 4);
  const isZip = start.length === 4 && start.readUInt32LE(0) === LOCAL_HEADER;
  malformed(
    path,
    isZip
      ? `byte ${bytes.length}: the zip archive's directory is missing at its end; the file was cut short`
      : `bytes 0–3: not a zip archive (an .npz file is one, as np.savez writes it)`,
  );
}

/** Zip64 sizes and offset replace the 32-bit fields that hold 0xFFFFFFFF, in this order. */
function readZip64Extra(bytes: Buffer, start: number, length: number, entry: Entry, path: string): void {
  let at = start;
  while (at + 4 <= start + length) {
    const id = bytes.readUInt16LE(at);
    const size = bytes.readUInt16LE(at + 2);
    if (id === 0x0001) {
      let field = at + 4;
      const next = (): number => {
        if (field + 8 > at + 4 + size) malformed(path, `byte ${at}: the zip64 field of ${entry.name} is too short`);
        const value = big(bytes.readBigUInt64LE(field), path, field);
        field += 8;
        return value;
      };
      if (entry.size === MAX32) entry.size = next();
      if (entry.compressedSize === MAX32) entry.compressedSize = next();
      if (entry.localOffset === MAX32) entry.localOffset = next();
    }
    at += 4 + size;
  }
}

function big(value: bigint, path: string, at: number): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) malformed(path, `byte ${at}: a zip64 size or offset of ${value}`);
  return Number(value);
}

function extract(bytes: Buffer, entry: Entry, path: string, budget: number): Buffer {
  const where = `${path}:${entry.name}`;
  if ((entry.flags & 1) !== 0) unsupported(path, `byte ${entry.at}: ${entry.name} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8)
    unsupported(
      path,
      `byte ${entry.at}: ${entry.name} is compressed with method ${entry.method}; nqm reads stored (0) and deflated (8) members, as np.savez and np.savez_compressed write them`,
    );
  const local = entry.localOffset;
  if (local + 30 > bytes.length || bytes.readUInt32LE(local) !== LOCAL_HEADER)
    malformed(path, `byte ${local}: the local header of ${entry.name} is missing or damaged`);
  const dataStart = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
  const dataEnd = dataStart + entry.compressedSize;
  if (dataEnd > bytes.length)
    malformed(
      path,
      `byte ${dataStart}: ${entry.name} is said to hold ${bytesText(entry.compressedSize)}, the file holds ${bytesText(Math.max(0, bytes.length - dataStart))} from there`,
    );
  if (entry.size > budget) refuseMemory(`the array ${where}`, entry.size, budget, "use a smaller file");
  const raw = bytes.subarray(dataStart, dataEnd);
  let data: Buffer;
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize)
      malformed(
        path,
        `byte ${entry.at}: ${entry.name} is stored, yet its sizes differ (${entry.compressedSize} and ${entry.size})`,
      );
    data = raw;
  } else {
    try {
      data = inflateRawSync(raw, { maxOutputLength: outputLimit(entry.size) });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
        malformed(
          path,
          `byte ${dataStart}: ${entry.name} inflates to more than the ${bytesText(entry.size)} its entry says`,
        );
      const message = error instanceof Error ? error.message : String(error);
      malformed(path, `byte ${dataStart}: the deflated data of ${entry.name} is damaged (${message})`);
    }
    if (data.length !== entry.size)
      malformed(
        path,
        `byte ${dataStart}: ${entry.name} inflates to ${bytesText(data.length)}, its entry says ${entry.size}`,
      );
  }
  if (crc32(data) >>> 0 !== entry.crc)
    malformed(path, `byte ${dataStart}: ${entry.name} fails its CRC-32 check; the archive is damaged`);
  return data;
}
