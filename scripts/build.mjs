// Bundles the CLI into dist/nqm.js and the sweep worker into dist/sweep-worker.js (run by
// `npm install` through `prepare`). Code splitting keeps start-up fast: a command's modules,
// and heavy dependencies such as ts-morph, load only when that command runs.
import { build } from "esbuild";
import { chmodSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
await build({
  entryPoints: { nqm: "cli/main.ts", "sweep-worker": "runtime/sweep-worker.ts" },
  outdir: "dist",
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
chmodSync("dist/nqm.js", 0o755);
