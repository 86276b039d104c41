// Bundles the CLI into dist/nqm.js and the sweep worker into dist/sweep-worker.js (run by
// `npm install` through `prepare`). Code splitting keeps start-up fast: a command's modules,
// and heavy dependencies such as ts-morph, load only when that command runs. The tests build
// the same bundle into their own folders with `buildCli`.
import { build } from "esbuild";
import { chmodSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Builds the CLI and the sweep worker into `outdir`. */
export async function buildCli(outdir) {
  await build({
    entryPoints: { nqm: join(root, "cli/bin.ts"), "sweep-worker": join(root, "runtime/sweep-worker.ts") },
    outdir,
    // Chunks sit beside the entries, so import.meta.url-relative paths work from any of them.
    chunkNames: "chunk-[hash]",
    splitting: true,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    sourcemap: "linked",
    // Node ignores a hashbang at the top of a module, so chunks may carry it too.
    banner: { js: "#!/usr/bin/env node" },
    logLevel: "warning",
  });
  chmodSync(join(outdir, "nqm.js"), 0o755);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(join(root, "dist"), { recursive: true, force: true });
  await buildCli(join(root, "dist"));
}
