// Bundles the CLI into dist/nqm.js, the library (api/index.ts, the package's entry) into
// dist/index.js with its type declarations in dist/types, and the sweep worker into
// dist/sweep-worker.js (run by `npm install` through `prepare`). Code splitting keeps start-up fast: a command's modules,
// and heavy dependencies such as ts-morph, load only when that command runs. The tests build
// the same bundle into their own folders with `buildCli`. The bundle carries the compiler hash
// (compiler/version.ts), computed here from the source it is built from.
import { build } from "esbuild";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
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

/** Builds the CLI, the library's entry and the sweep worker into `outdir`. */
export async function buildCli(outdir) {
  const compilerHash = await compilerSourceHash(root);
  await build({
    entryPoints: {
      nqm: join(root, "cli/bin.ts"),
      index: join(root, "api/index.ts"),
      "sweep-worker": join(root, "runtime/sweep-worker.ts"),
    },
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

/**
 * Writes the library's type declarations (api/index.ts and what it names) into `outdir`, by the
 * TypeScript compiler. The sources import each other as `./x.ts`; the declarations say `./x.js`,
 * which every TypeScript resolution maps to `./x.d.ts`.
 */
export async function buildTypes(outdir) {
  const { default: ts } = await import("typescript");
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  const options = {
    ...config.options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    outDir: outdir,
    rootDir: root,
  };
  const program = ts.createProgram([join(root, "api/index.ts")], options);
  const emitted = program.emit(undefined, (file, text) => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']*)\.ts\2/g, "$1$2$3.js$2"));
  });
  const errors = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].filter(
    (d) => d.category === ts.DiagnosticCategory.Error,
  );
  if (errors.length > 0)
    throw new Error(
      ts.formatDiagnostics(errors, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => root,
        getNewLine: () => "\n",
      }),
    );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(join(root, "dist"), { recursive: true, force: true });
  await buildCli(join(root, "dist"));
  await buildTypes(join(root, "dist", "types"));
}
