// `npm run generate:dashboards`: writes every dashboard's JSON into generated/, where the
// chart picks them up, and removes files of dashboards that no longer exist.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DASHBOARDS, GENERATED_DIR, render } from './index.ts';

function main(): void {
  const wanted = new Set(DASHBOARDS.map((d) => d.file));
  for (const file of readdirSync(GENERATED_DIR)) {
    if (file.endsWith('.json') && !wanted.has(file)) rmSync(path.join(GENERATED_DIR, file));
  }
  for (const d of DASHBOARDS) {
    writeFileSync(path.join(GENERATED_DIR, d.file), render(d.build()));
    console.error(`wrote ${path.relative(process.cwd(), path.join(GENERATED_DIR, d.file))}`);
  }
}

main();
