// Bundles the CLI into dist/nqm.js and the sweep worker into dist/sweep-worker.js (run by
// `npm install` through `prepare`). Code splitting keeps start-up fast: a command's modules,
// and heavy dependencies such as ts-morph, load only when that command runs. The tests build
// the same bundle into their own folders with `buildCli`. The bundle carries the compiler hash
// (compiler/version.ts), computed here from the source it is built from.
import { build } from "esbuild";
import { chmodSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The compiler hash of the source tree at `root`, by compiler/version.ts's own function. */
export async function compilerSourceHash(root) {
  // Bundled in memory so that plain Node (no TypeScript loader) runs the one implementation.
  const bundled = await build({
    entryPoints: [join(root, "compiler/version.ts")],
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
  });
  const code = bundled.outputFiles[0].text;
  const { hashCompilerSources } = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
  return hashCompilerSources(root);
}

/** Builds the CLI and the sweep worker into `outdir`. */
export async function buildCli(outdir) {
  const compilerHash = await compilerSourceHash(root);
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
    define: { __NQM_COMPILER_HASH__: JSON.stringify(compilerHash) },
    logLevel: "warning",
  });
  chmodSync(join(outdir, "nqm.js"), 0o755);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(join(root, "dist"), { recursive: true, force: true });
  await buildCli(join(root, "dist"));
}
