/** Creating folders without the hang of Node 20's recursive mkdirSync. */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * mkdir -p, one component at a time from the nearest existing ancestor, each new folder with
 * `mode`: Node 20's recursive mkdirSync never returns where a parent refuses new entries with
 * ENOENT (under /proc, for one), while mkdir of one component throws that error.
 */
export function makeFolders(folder: string, mode?: number): void {
  const missing: string[] = [];
  for (let path = resolve(folder); !existsSync(path); path = dirname(path)) {
    missing.push(path);
    if (dirname(path) === path) break;
  }
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path, mode === undefined ? {} : { mode });
    } catch (error) {
      // Created meanwhile by another process: fine, as with mkdir -p.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}
