import { describe, expect, it } from 'vitest';
import { dockerfileInstructions, sessionMounts, syntaxDirective, soleBaseRegistry } from './dockerfile-lines.js';

const dockerfile = `# syntax=docker/dockerfile:1.4
# a comment
FROM scratch AS base
COPY rootfs/ /

FROM base
RUN --mount=type=cache,target=/cache \\
    # a comment inside
    --mount=type=secret,id=npmrc \\
    cat /run/secrets/npmrc
RUN --mount=type=ssh,required=false ls
RUN --mount=type=ssh git clone x
`;

describe('dockerfile-lines', () => {
  it('joins continuation lines, skips comments, and keeps the start line', () => {
    expect(dockerfileInstructions(dockerfile).map((i) => [i.line, i.keyword])).toEqual([
      [3, 'FROM'],
      [4, 'COPY'],
      [6, 'FROM'],
      [7, 'RUN'],
      [11, 'RUN'],
      [12, 'RUN'],
    ]);
    expect(dockerfileInstructions(dockerfile)[3].text).toBe('RUN --mount=type=cache,target=/cache --mount=type=secret,id=npmrc cat /run/secrets/npmrc');
  });
  it('finds secret and ssh mounts that a session must serve, not optional ones', () => {
    expect(sessionMounts(dockerfile).map((m) => [m.line, m.type])).toEqual([
      [7, 'secret'],
      [12, 'ssh'],
    ]);
  });
  it('finds the syntax directive only at the top', () => {
    expect(syntaxDirective(dockerfile)).toEqual({ line: 1, image: 'docker/dockerfile:1.4' });
    expect(syntaxDirective('# escape=`\n#syntax=example.com/df:2\nFROM x\n')).toEqual({ line: 2, image: 'example.com/df:2' });
    expect(syntaxDirective('FROM x\n# syntax=docker/dockerfile:1\n')).toBeUndefined();
    expect(syntaxDirective('# a comment\n# syntax=docker/dockerfile:1\n')).toBeUndefined();
  });
});

describe('soleBaseRegistry', () => {
  it('names the one registry every base comes from, with build args and ARG defaults resolved', () => {
    expect(soleBaseRegistry('FROM 10.0.0.5:5443/team/base:1\nRUN true\n', {})).toBe('10.0.0.5:5443');
    expect(soleBaseRegistry('ARG BASE\nFROM ${BASE} AS build\nFROM build\n', { BASE: 'localhost:5000/blog/base:abc' })).toBe('localhost:5000');
    expect(soleBaseRegistry('ARG BASE=registry.example.com/x:1\nFROM $BASE\nFROM scratch\n', {})).toBe('registry.example.com');
  });
  it('names none when a base is on Docker Hub, bases come from two registries, an argument is unknown, or a frontend is pulled', () => {
    expect(soleBaseRegistry('FROM node:20\n', {})).toBeUndefined();
    expect(soleBaseRegistry('FROM a.example.com/x AS one\nFROM b.example.com/y\n', {})).toBeUndefined();
    expect(soleBaseRegistry('FROM ${NOPE}\n', {})).toBeUndefined();
    expect(soleBaseRegistry('# syntax=docker/dockerfile:1\nFROM a.example.com/x\n', {})).toBeUndefined();
  });
});
