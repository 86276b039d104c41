/**
 * The content hash of a loaded data set: what a queue worker compares with the coordinator's
 * before training, so a machine whose file differs (or whose MNIST package is another release)
 * fails the job instead of training on other data. It hashes the numbers the runs see, not the
 * files, so it names the same data however it is stored or wherever the file lies.
 */
import { createHash } from "node:crypto";
import type { Dataset, Split } from "./types.ts";

/** SHA-256 (hex, first 16 digits) over the data set's shapes and the bytes of its arrays. */
export function datasetHash(data: Dataset): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ input: data.inputShape, output: data.outputSize, test: data.test?.n ?? null }));
  const add = (split: Split) => {
    hash.update(`|${split.n}|`);
    hash.update(new Uint8Array(split.x.buffer, split.x.byteOffset, split.x.byteLength));
    hash.update(new Uint8Array(split.y.buffer, split.y.byteOffset, split.y.byteLength));
  };
  add(data.train);
  if (data.test) add(data.test);
  return hash.digest("hex").slice(0, 16);
}
