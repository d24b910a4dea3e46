import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dockerfileImages, referenceRepository } from './dockerfile-images.js';

test('images of FROM, COPY --from and RUN --mount, without stages and scratch', () => {
  const text = [
    '# syntax=docker/dockerfile:1',
    'FROM --platform=$BUILDPLATFORM registry.example.com/team/builder:1 AS build',
    'RUN --mount=type=cache,from=registry.example.com/team/cache,target=/c make',
    'FROM build AS test',
    'FROM scratch',
    'COPY --from=build /out /out',
    'COPY --from=busybox:1.36 /bin/busybox /bin/',
    'COPY --from=0 /a /a',
  ].join('\n');
  assert.deepEqual(dockerfileImages(text, {}), {
    images: ['registry.example.com/team/builder:1', 'registry.example.com/team/cache', 'busybox:1.36'],
    unresolved: false,
  });
});

test('global ARGs expand in FROM, build arguments override them, unknown ones are unresolved', () => {
  const text = [
    'ARG REGISTRY=127.0.0.1:5000',
    'ARG BASE',
    'FROM ${REGISTRY}/team/base:${TAG:-v1} \\',
    '  AS base',
    'ARG LATE=x',
    'FROM $BASE',
  ].join('\n');
  assert.deepEqual(dockerfileImages(text, {}), { images: ['127.0.0.1:5000/team/base:v1'], unresolved: true });
  assert.deepEqual(dockerfileImages(text, { REGISTRY: 'r.example', BASE: 'alpine' }), {
    images: ['r.example/team/base:v1', 'alpine'],
    unresolved: false,
  });
});

test('the repository of a reference on its host', () => {
  assert.equal(referenceRepository('127.0.0.1:5000/admin/base:v1', '127.0.0.1:5000'), 'admin/base');
  assert.equal(referenceRepository('h.example/a/b@sha256:' + '0'.repeat(64), 'h.example'), 'a/b');
  assert.equal(referenceRepository('h.example:443/a', 'h.example:443'), 'a');
});
