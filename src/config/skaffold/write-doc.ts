/**
 * Writes docs/skaffold.md from the key table (`npm run docs:skaffold`). The committed file must
 * equal what this writes: doc.test.ts fails when it drifts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { skaffoldDoc } from './doc.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DOC_FILE = path.join(REPO, 'docs', 'skaffold.md');
/** Every key of the skaffold/v4beta14 schema (see testdata/generate-v4beta14-keys.mjs). */
export const SCHEMA_KEYS_FILE = path.join(REPO, 'src', 'config', 'skaffold', 'testdata', 'v4beta14-keys.txt');

export function schemaKeys(): Set<string> {
  return new Set(
    readFileSync(SCHEMA_KEYS_FILE, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#')),
  );
}

export function docFileText(): string {
  return skaffoldDoc(schemaKeys());
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(DOC_FILE, docFileText());
  process.stdout.write(`wrote ${DOC_FILE}\n`);
}
