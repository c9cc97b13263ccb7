// The demo page (im_http/api/static/) loads the SDK as the server serves it: a copy of
// the built dist/*.js, committed so that a Python user without node gets a working
// page. `npm run static` writes the copy; `npm run check-static` (in CI, after a
// fresh build) fails if the committed copy differs from the build, so it cannot drift.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const target = fileURLToPath(new URL("../../../im_http/api/static/sdk/", import.meta.url));
const BANNER = "// Built from sdk/js/src by `npm run build && npm run static` in sdk/js: do not edit.\n";

const built = new Map(readdirSync(dist).filter((name) => name.endsWith(".js")).sort()
  .map((name) => [name, BANNER + readFileSync(dist + name, "utf8")]));
if (built.size === 0) throw new Error("nothing built in dist/: run `npm run build` first");

if (process.argv.includes("--check")) {
  const committed = existsSync(target) ? readdirSync(target).sort() : [];
  const problems = [];
  for (const name of new Set([...committed, ...built.keys()])) {
    if (!built.has(name)) problems.push(`${name} is not built from src/ any more`);
    else if (!committed.includes(name)) problems.push(`${name} is missing`);
    else if (readFileSync(target + name, "utf8") !== built.get(name)) problems.push(`${name} differs`);
  }
  if (problems.length) {
    console.error(`im_http/api/static/sdk/ is not the build of sdk/js/src: ${problems.join("; ")}.\n` +
                  "Run `npm run build && npm run static` in sdk/js and commit the result.");
    process.exit(1);
  }
  console.log(`im_http/api/static/sdk/ matches the build (${built.size} files)`);
} else {
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  for (const [name, text] of built) writeFileSync(target + name, text);
  console.log(`wrote ${built.size} files to im_http/api/static/sdk/`);
}
