// `npm run bench [-- <suite>...]`: runs every benchmark suite in this directory, or the named
// ones. A suite is `test/bench/<name>.ts` exporting `run(args)`; the operator's benchmark
// joins as operator.ts without touching this file.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

interface Suite {
  run(args: string[]): Promise<void>;
}

const KNOWN = ['exporter', 'operator'];

const [first, ...rest] = process.argv.slice(2);
const chosen = first === undefined || first.startsWith('-') ? KNOWN : first.split(',');
const args = first === undefined || first.startsWith('-') ? process.argv.slice(2) : rest;
let failed = false;
for (const name of chosen) {
  const file = join(import.meta.dirname, `${name}.ts`);
  if (!existsSync(file)) {
    if (first !== undefined && !first.startsWith('-')) {
      console.error(`bench: no suite "${name}" (test/bench/${name}.ts)`);
      failed = true;
    }
    continue;
  }
  console.log(`\n### bench: ${name}\n`);
  const suite = (await import(file)) as Suite;
  try {
    await suite.run(args);
  } catch (err) {
    console.error(`bench ${name} failed:`, err);
    failed = true;
  }
}
process.exitCode = failed ? 1 : 0;
