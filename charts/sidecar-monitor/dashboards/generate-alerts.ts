// `npm run generate:alerts`: writes the plain rules file the chart embeds.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ruleGroups } from './alert-rules.ts';
import { renderRulesFile, RULES_FILE } from './rules-file.ts';

mkdirSync(path.dirname(RULES_FILE), { recursive: true });
writeFileSync(RULES_FILE, await renderRulesFile(ruleGroups()));
console.error(`wrote ${path.relative(process.cwd(), RULES_FILE)}`);
