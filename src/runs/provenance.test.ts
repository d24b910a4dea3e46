import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import type { JWK } from 'jose';
import {
  IN_TOTO_PAYLOAD_TYPE,
  preAuthEncoding,
  provenanceStatement,
  signStatement,
  slipwayVersion,
  verifyEnvelope,
  withoutCredentials,
  type BuildFacts,
  type ProvenanceSigner,
} from './provenance.js';

function signer(keyId: string): ProvenanceSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    signingKey: { keyId, publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: keyId } },
    sign: (bytes) => sign('sha256', bytes, { key: privateKey, dsaEncoding: 'der' }),
  };
}

const facts: BuildFacts = {
  image: { name: 'registry.example.com/team/web', digest: `sha256:${'a'.repeat(64)}` },
  source: {
    repository: 'https://bot:s3cret@git.example.com/team/web.git',
    commit: 'c'.repeat(40),
    ref: 'refs/tags/v1',
  },
  build: { dockerfile: 'Dockerfile', context: '.', target: 'runtime', buildArgs: { VERSION: '1' } },
  event: 'tag',
  pipeline: { id: 'p1', name: 'web', namespace: 'team' },
  run: { id: 'r1', number: 7 },
  job: { id: 'j1', name: 'image' },
  step: { id: 's1', name: 'build', index: 1 },
  startedOn: Date.UTC(2025, 0, 1, 12, 0, 0),
  finishedOn: Date.UTC(2025, 0, 1, 12, 1, 0),
};

test('the DSSE pre-authentication encoding of the specification example', () => {
  assert.equal(
    preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString(),
    'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
  );
});

test('a statement names the image, the source without credentials, the run and the builder', () => {
  const statement = provenanceStatement(facts, {
    id: 'https://slipway.example.com/builder',
    version: '1.2.3',
  });
  assert.deepEqual(statement.subject, [
    { name: 'registry.example.com/team/web', digest: { sha256: 'a'.repeat(64) } },
  ]);
  const definition = statement.predicate.buildDefinition;
  assert.deepEqual(definition.externalParameters, {
    source: {
      repository: 'https://git.example.com/team/web.git',
      commit: 'c'.repeat(40),
      ref: 'refs/tags/v1',
    },
    dockerfile: 'Dockerfile',
    context: '.',
    target: 'runtime',
    buildArgs: { VERSION: '1' },
    event: 'tag',
  });
  assert.deepEqual(definition.resolvedDependencies, [
    { uri: 'git+https://git.example.com/team/web.git@refs/tags/v1', digest: { gitCommit: 'c'.repeat(40) } },
  ]);
  assert.deepEqual(statement.predicate.runDetails, {
    builder: { id: 'https://slipway.example.com/builder', version: { slipway: '1.2.3' } },
    metadata: {
      invocationId: 'r1',
      startedOn: '2025-01-01T12:00:00.000Z',
      finishedOn: '2025-01-01T12:01:00.000Z',
    },
  });
  assert.doesNotMatch(JSON.stringify(statement), /s3cret/);
});

test('an envelope verifies with its key only, and not once changed', () => {
  const key = signer('k1');
  const statement = provenanceStatement(facts, { id: 'b', version: '1' });
  const envelope = signStatement(statement, key);
  assert.equal(envelope.payloadType, IN_TOTO_PAYLOAD_TYPE);
  assert.equal(envelope.signatures[0]?.keyid, 'k1');
  assert.deepEqual(verifyEnvelope(envelope, key.signingKey.publicJwk), statement);
  assert.deepEqual(
    verifyEnvelope(Buffer.from(JSON.stringify(envelope)), key.signingKey.publicJwk),
    statement,
  );

  const otherKey = signer('k1').signingKey.publicJwk;
  assert.throws(() => verifyEnvelope(envelope, otherKey), /no signature verifies/);
  const tampered = {
    ...envelope,
    payload: Buffer.from(JSON.stringify({ ...statement, subject: [] })).toString('base64'),
  };
  assert.throws(() => verifyEnvelope(tampered, key.signingKey.publicJwk), /no signature verifies/);
  const retyped = { ...envelope, payloadType: 'application/json' };
  assert.throws(() => verifyEnvelope(retyped, key.signingKey.publicJwk), /payloadType/);
  assert.throws(() => verifyEnvelope('not json', key.signingKey.publicJwk), /not JSON/);
});

test("the builder version is Slipway's package version", () => {
  assert.match(slipwayVersion(), /^\d+\.\d+\.\d+/);
});

test('credentials are stripped from clone URLs, other forms are kept', () => {
  assert.equal(withoutCredentials('https://u:p@h.example/r.git'), 'https://h.example/r.git');
  assert.equal(withoutCredentials('https://h.example/r.git'), 'https://h.example/r.git');
  assert.equal(withoutCredentials('git@h.example:team/r.git'), 'git@h.example:team/r.git');
});
