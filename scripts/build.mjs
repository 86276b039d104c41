// Bundles the CLI into dist/nqm.js (run by `npm install` through `prepare`).
import { build } from "esbuild";
import { chmodSync } from "node:fs";

await build({
  entryPoints: ["cli/main.ts"],
  outfile: "dist/nqm.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  banner: { js: "#!/usr/bin/env node" },
  sourcemap: "linked",
  logLevel: "warning",
});
chmodSync("dist/nqm.js", 0o755);
