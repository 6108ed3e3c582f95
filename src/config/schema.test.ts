import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCHEMA_FILE, schemaFileText } from './write-schema.js';

describe('schemas/devloop.schema.json', () => {
  it('equals what the config schema generates (run `npm run schema` after changing src/config/schema.ts)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(schemaFileText());
  });

  it('rejects unknown keys and documents every artifact field', () => {
    const schema = JSON.parse(schemaFileText());
    expect(schema.additionalProperties).toBe(false);
    const artifact = schema.properties.build.properties.artifacts.items;
    expect(Object.keys(artifact.properties).sort()).toEqual(['buildArgs', 'builder', 'context', 'dockerfile', 'hooks', 'image', 'requires', 'sync', 'target']);
    for (const [key, value] of Object.entries(artifact.properties)) {
      expect((value as { description?: string }).description, `artifact.${key} has a description`).toBeTruthy();
    }
  });
});
