// The chart ships the committed JSON; it must be exactly what the TypeScript sources build.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DASHBOARDS,
  GENERATED_DIR,
  render,
} from '../../../charts/sidecar-monitor/dashboards/index.ts';

describe('generated dashboards', () => {
  it.each(DASHBOARDS.map((d) => ({ file: d.file, build: d.build })))(
    '$file is the generator output (run `npm run generate:dashboards`)',
    ({ file, build }) => {
      const committed = readFileSync(path.join(GENERATED_DIR, file), 'utf8');
      expect(committed).toBe(render(build()));
    },
  );

  it('holds no JSON the generator would not write', () => {
    const committed = readdirSync(GENERATED_DIR).filter((f) => f.endsWith('.json'));
    expect(committed.sort()).toEqual(DASHBOARDS.map((d) => d.file).sort());
  });

  it('is deterministic: two builds render identically', () => {
    for (const d of DASHBOARDS) expect(render(d.build())).toBe(render(d.build()));
  });
});
